package modelstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/huskyai/huskyai/modelsign"
)

// fileState is what the watcher compares of one file.
type fileState struct {
	exists bool
	size   int64
	mtime  time.Time
	inode  uint64 // 0 where the system has none
}

// fingerprint is the state of the model file and its signature.
type fingerprint struct {
	model, sig fileState
}

func statFile(path string) fileState {
	fi, err := os.Stat(path) // follows symbolic links, as a reader does
	if err != nil {
		return fileState{}
	}
	return fileState{exists: true, size: fi.Size(), mtime: fi.ModTime(), inode: inode(fi)}
}

// stat fingerprints the source's files.
func (s *Store) stat() fingerprint {
	if s.src.Path == "" {
		return fingerprint{}
	}
	return fingerprint{model: statFile(s.src.Path), sig: statFile(s.src.Path + ".sig")}
}

// Watch polls the model file and its signature every interval and reloads
// when either changed (size, modification time or inode) and then stayed
// the same for one more interval, and, with trusted keys, the signature
// names the model's digest (or maxSigWaits polls went by without that), so
// that a model and its signature written one after the other give one
// reload, not a refused one in between. A failed reload is not retried until the files change again.
// Watch returns when ctx ends; it is an error to watch the embedded model.
//
// It polls rather than using inotify (fsnotify): deployments replace model
// files by renaming a new file over the old one, and Kubernetes updates a
// mounted ConfigMap or Secret by swapping a "..data" symbolic link to a
// new directory. Both replace the watched inode, so an inotify watch on
// the file goes silent after the first update, and a watch on the
// directory sees the link swap, not the file. A stat of the path every
// few seconds follows whatever the path names now, costs nothing, and
// works on every file system, network mounts included.
func (s *Store) Watch(ctx context.Context, interval time.Duration) error {
	if s.src.Path == "" {
		return errors.New("modelstore: watch: the embedded model does not change")
	}
	waited := 0
	return poll(ctx, interval, s.stat, s.loadedFingerprint, func() {
		// A model and its signature are written one after the other: a
		// model whose signature names another digest waits for the new
		// signature (up to maxSigWaits polls), rather than being refused.
		if s.opt.Keys != nil || s.opt.Keyring != nil {
			if !s.filesAgree() && waited < maxSigWaits {
				waited++
				return
			}
		}
		waited = 0
		s.logger.InfoContext(ctx, "model files changed; reloading", "source", s.src.Path)
		if err := s.Reload(ctx); err != nil && ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "reload after a change failed; the old model keeps serving", "source", s.src.Path, "err", err)
		}
	})
}

// WatchFiles polls the files that files names (asked again at each poll:
// a directory's contents may change) every interval, and calls reload once
// their state (size, modification time, inode, or missing) changed and then
// stayed the same for one more interval: Watch's loop, for the other files
// a server reloads (trusted keys, a TLS certificate). It returns when ctx
// ends.
func WatchFiles(ctx context.Context, interval time.Duration, files func() []string, reload func()) error {
	stamp := func() string {
		names := slices.Sorted(slices.Values(files()))
		var b strings.Builder
		for _, f := range names {
			fmt.Fprintf(&b, "%s %+v\n", f, statFile(f))
		}
		return b.String()
	}
	loaded := stamp()
	return poll(ctx, interval, stamp, func() string { return loaded }, func() {
		loaded = stamp()
		reload()
	})
}

// poll calls now every interval until ctx ends, and calls reload once
// now's value differs from loaded's and has stayed the same for one more
// interval (a change still being written is waited out). It is the loop
// of Store.Watch and Repository.Watch.
func poll[F comparable](ctx context.Context, interval time.Duration, now, loaded func() F, reload func()) error {
	if interval <= 0 {
		return errors.New("modelstore: watch: the interval must be positive")
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending *F // a change seen at the last tick
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		fp := now()
		if fp == loaded() {
			pending = nil
			continue
		}
		if pending == nil || *pending != fp {
			pending = &fp // still changing, or just changed: wait one interval
			continue
		}
		pending = nil
		reload()
	}
}

// maxSigWaits is how many times Watch finds a changed model whose
// signature names another digest before it reloads all the same (and
// the refusal is recorded).
const maxSigWaits = 5

// filesAgree reports whether the source's signature file, if any, names
// the digest and size of its model file as they are now.
func (s *Store) filesAgree() bool {
	sig, err := os.ReadFile(s.src.Path + ".sig")
	if err != nil {
		return true // no signature: the load decides
	}
	parsed, err := modelsign.ParseSignature(sig)
	if err != nil {
		return true // a broken one: the load refuses it
	}
	f, err := os.Open(s.src.Path)
	if err != nil {
		return true
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, parsed.ModelSize+1))
	return err == nil && n == parsed.ModelSize && hex.EncodeToString(h.Sum(nil)) == parsed.ModelSHA256
}
