package deploy

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// repoRoot is the repository's root, seen from this package's directory.
const repoRoot = ".."

// TestMain removes the directory of the binary built by huskyaiBinary.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// built is the result of the one build of ./cmd/huskyai shared by the
// tests: the build context's copy and the binary in it.
var built struct {
	once  sync.Once
	dir   string // temporary directory: ctx/ and the binary
	ctx   string // the copy of the Docker build context
	files []string
	bin   string
	err   error
}

// huskyaiBinary builds ./cmd/huskyai once, as the Dockerfile's build stage
// does, from a copy of the Docker build context (the files .dockerignore
// lets through), and returns the binary's path.
func huskyaiBinary(t reporter) string {
	t.Helper()
	built.once.Do(func() {
		built.err = buildFromContext()
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func buildFromContext() error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return fmt.Errorf("the go command is needed to build the binary: %w", err)
	}
	built.dir, err = os.MkdirTemp("", "huskyai-deploy-test-")
	if err != nil {
		return err
	}
	built.ctx = filepath.Join(built.dir, "ctx")
	built.files, err = dockerContext(repoRoot)
	if err != nil {
		return err
	}
	for _, rel := range built.files {
		if err := copyFile(filepath.Join(repoRoot, rel), filepath.Join(built.ctx, rel)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // removed meanwhile (an editor's temporary file)
			}
			return err
		}
	}
	// The Dockerfile's build command, minus -X main.version.
	built.bin = filepath.Join(built.dir, "huskyai")
	cmd := exec.Command(goTool, "build", "-trimpath", "-ldflags=-s -w", "-o", built.bin, "./cmd/huskyai")
	cmd.Dir = built.ctx
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building ./cmd/huskyai from the Docker build context (CGO_ENABLED=0 go build -trimpath): %v\n%s", err, out)
	}
	return nil
}

// dockerContext lists the regular files under root that a "docker build"
// of root sends as its context: those no pattern of root/.dockerignore
// excludes, matched by the same package Docker and BuildKit use.
func dockerContext(root string) ([]string, error) {
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		return nil, err
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf(".dockerignore: %w", err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		rel = filepath.ToSlash(rel)
		skip, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		if skip {
			if d.IsDir() && !pm.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() {
			files = append(files, rel)
		}
		return nil
	})
	return files, err
}

func copyFile(src, dst string) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	return os.WriteFile(dst, data, 0o644)
}

// TestDockerContext checks what .dockerignore lets into the build
// context: what the binary embeds is in, the rest (the Git history,
// tests, fixtures, third-party libraries, local binaries) is out, and
// ./cmd/huskyai builds from it alone.
func TestDockerContext(t *testing.T) {
	huskyaiBinary(t)
	in := make(map[string]bool, len(built.files))
	var size int64
	for _, f := range built.files {
		in[f] = true
		if fi, err := os.Stat(filepath.Join(built.ctx, f)); err == nil {
			size += fi.Size()
		}
	}
	for _, want := range []string{"go.mod", "go.sum", "defaultmodel/huskymodel.h5", "defaultmodel/huskymodel.h5.sig",
		"defaultmodel/release.pub", "server/static/index.html", "cmd/huskyai/main.go"} {
		if !in[want] {
			t.Errorf("the build context lacks %s", want)
		}
	}
	for _, f := range built.files {
		switch {
		case strings.HasPrefix(f, ".git/"), strings.HasPrefix(f, "third_party/"),
			strings.Contains("/"+f, "/testdata/"), strings.HasSuffix(f, "_test.go"),
			strings.HasSuffix(f, ".test"), f == "huskyai":
			t.Errorf("the build context has %s, which .dockerignore should keep out", f)
		}
	}
	t.Logf("build context: %d files, %.1f MiB", len(built.files), float64(size)/(1<<20))
	if size > 64<<20 {
		t.Errorf("the build context is %d MiB: what does .dockerignore let in?", size>>20)
	}
}

// TestStaticBinary checks that the binary built as the Dockerfile builds
// it is static (no ELF interpreter, no dynamic section: it runs on
// distroless/static or scratch, which have no C library), stripped (-s),
// free of the build directory's path (-trimpath), and runs.
func TestStaticBinary(t *testing.T) {
	bin := huskyaiBinary(t)
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			t.Error("the binary has a PT_INTERP program header: it needs a dynamic loader (cgo?)")
		case elf.PT_DYNAMIC:
			t.Error("the binary has a PT_DYNAMIC program header: it is dynamically linked")
		}
	}
	for _, name := range []string{".interp", ".dynamic", ".dynsym"} {
		if f.Section(name) != nil {
			t.Errorf("the binary has a %s section: it is dynamically linked", name)
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		t.Errorf("the binary imports shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary has a symbol table: -ldflags=-s was not applied")
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(built.ctx)) {
		t.Errorf("the binary contains the build directory %s: -trimpath was not applied", built.ctx)
	}
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !regexp.MustCompile(`^huskyai \S+\n$`).Match(out) {
		t.Errorf("%s version: %v, %q", bin, err, out)
	}
}
