package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/huskyai/huskyai/audit"
)

// runAudit runs the "huskyai audit" subcommands: only "verify" for now.
func runAudit(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const usage = "Usage: huskyai audit verify LOG\n\nChecks the hash chain of a huskyai audit log, JSON lines chained by SHA-256\n(LOG \"-\" reads standard input). Prints \"OK N records, last hash H\" and\nexits 0, or prints the first bad line and why and exits 1. Keep H elsewhere:\nthe chain cannot show that lines were cut from the end.\n"
	if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) == 0 || args[0] != "verify" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return errors.New("audit: no subcommand given (want \"verify\")")
		}
		return fmt.Errorf("audit: unknown subcommand %q (want \"verify\")", args[0])
	}
	return runAuditVerify(args[1:], stdin, stdout, stderr)
}

// runAuditVerify checks a whole audit log's chain.
func runAuditVerify(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("huskyai audit verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: huskyai audit verify LOG\n\nChecks the hash chain of an audit log (LOG \"-\" reads standard input).\nPrints \"OK N records, last hash H\" and exits 0, or prints the first bad\nline and why and exits 1.\n")
	}
	if done, err := parseFlags(fs, args); done {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("audit verify: one LOG (or - for standard input) is required")
	}
	name := fs.Arg(0)
	r := stdin
	if name == "-" {
		name = "standard input"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("audit verify: %w", err)
		}
		defer f.Close()
		r = f
	}
	last := &lastLineHash{h: sha256.New(), sum: audit.ZeroHash}
	n, err := audit.Verify(io.TeeReader(r, last))
	if err != nil {
		return fmt.Errorf("audit verify: FAILED: %s: %w (%d good records before it)", name, err, n)
	}
	fmt.Fprintf(stdout, "OK %d records, last hash %s\n", n, last.sum)
	return nil
}

// lastLineHash is a writer that keeps the hex SHA-256 of the last complete
// line written to it (without its newline), the hash the next record of
// an audit log chains to; audit.ZeroHash before any.
type lastLineHash struct {
	h   hash.Hash // of the line in progress
	sum string
}

// Write hashes p, line by line.
func (l *lastLineHash) Write(p []byte) (int, error) {
	n := len(p)
	for {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.h.Write(p)
			return n, nil
		}
		l.h.Write(p[:i])
		l.sum = hex.EncodeToString(l.h.Sum(nil))
		l.h.Reset()
		p = p[i+1:]
	}
}
