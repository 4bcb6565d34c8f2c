package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/huskyai/huskyai/audit"
)

// auditLog writes a real log of n records with audit.NewWriter and returns
// its lines (each with its newline) and the writer's last hash.
func auditLog(t *testing.T, n int) ([]string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := audit.NewWriter(&buf)
	ctx := context.Background()
	for i := range n {
		var ev audit.Event = audit.Prediction{RequestID: fmt.Sprintf("req-%d", i), ClientAddr: "127.0.0.1:1234",
			ImageBytes: 100 + i, ModelSHA256: strings.Repeat("ab", 32), Status: 200}
		if i == 0 {
			ev = audit.ModelLoad{Name: "husky", SHA256: strings.Repeat("ab", 32), Format: "keras-h5", Source: "embedded"}
		}
		if err := w.Record(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	_, head := w.Head()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(buf.String(), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	if len(lines) != n {
		t.Fatalf("the writer wrote %d lines for %d records", len(lines), n)
	}
	return lines, head
}

// runAuditCmd runs "huskyai audit ARGS..." with stdin.
func runAuditCmd(t *testing.T, stdin io.Reader, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), append([]string{"huskyai", "audit"}, args...), func(string) string { return "" }, stdin, &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// TestAuditVerify checks a real log, from a file and from standard input,
// and fails, naming the line, for each kind of tampering.
func TestAuditVerify(t *testing.T) {
	lines, head := auditLog(t, 5)
	join := func(ls ...string) string { return strings.Join(ls, "") }
	edited := strings.Replace(lines[1], `"req-1"`, `"req-X"`, 1)
	if edited == lines[1] {
		t.Fatal("the edit did not apply")
	}
	tests := []struct {
		name   string
		log    string
		want   string // stdout on success; "" when an error is wanted
		reason string // a substring of the error
	}{
		{name: "genuine", log: join(lines...), want: fmt.Sprintf("OK 5 records, last hash %s\n", head)},
		{name: "empty", log: "", want: fmt.Sprintf("OK 0 records, last hash %s\n", audit.ZeroHash)},
		{name: "first record only", log: lines[0], want: "OK 1 records, last hash " + hashOf(lines[0]) + "\n"},
		{name: "edited line", log: join(lines[0], edited, lines[2], lines[3], lines[4]), reason: "line 3:"},
		{name: "deleted line", log: join(lines[0], lines[1], lines[3], lines[4]), reason: "line 3:"},
		{name: "deleted first line", log: join(lines[1:]...), reason: "line 1:"},
		{name: "swapped lines", log: join(lines[0], lines[2], lines[1], lines[3], lines[4]), reason: "line 2:"},
		{name: "duplicated line", log: join(lines[0], lines[1], lines[1], lines[2]), reason: "line 3:"},
		{name: "truncated last line", log: join(lines[0], lines[1], strings.TrimSuffix(lines[2], "\n")), reason: "line 3: truncated"},
		{name: "not JSON", log: join(lines[0], "hello\n"), reason: "line 2:"},
	}
	for _, tc := range tests {
		for _, via := range []string{"file", "stdin"} {
			t.Run(tc.name+" via "+via, func(t *testing.T) {
				arg, stdin := "-", io.Reader(strings.NewReader(tc.log))
				if via == "file" {
					arg, stdin = filepath.Join(t.TempDir(), "audit.log"), strings.NewReader("")
					if err := os.WriteFile(arg, []byte(tc.log), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				stdout, _, err := runAuditCmd(t, stdin, "verify", arg)
				if tc.want != "" {
					if err != nil || stdout != tc.want {
						t.Fatalf("audit verify: %v, printed %q, want %q", err, stdout, tc.want)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), "FAILED") || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("audit verify: %v (printed %q), want an error saying %q", err, stdout, tc.reason)
				}
				if stdout != "" {
					t.Errorf("a failed audit verify printed %q", stdout)
				}
			})
		}
	}
}

// hashOf is the hex SHA-256 of a log line without its newline.
func hashOf(line string) string {
	sum := sha256.Sum256([]byte(strings.TrimSuffix(line, "\n")))
	return hex.EncodeToString(sum[:])
}

// TestAuditUsage: wrong invocations are errors, help is not.
func TestAuditUsage(t *testing.T) {
	for _, tc := range []struct {
		name   string
		args   []string
		reason string // "" for success
	}{
		{"no subcommand", nil, "no subcommand"},
		{"unknown subcommand", []string{"check", "x"}, `unknown subcommand "check"`},
		{"no log", []string{"verify"}, "one LOG"},
		{"two logs", []string{"verify", "a", "b"}, "one LOG"},
		{"missing file", []string{"verify", filepath.Join(t.TempDir(), "nope.log")}, "no such file"},
		{"help", []string{"--help"}, ""},
		{"verify help", []string{"verify", "-h"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := runAuditCmd(t, strings.NewReader(""), tc.args...)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("audit %v: %v", tc.args, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("audit %v: %v, want an error saying %q", tc.args, err, tc.reason)
			}
		})
	}
}

// TestLastLineHash: the last line's hash does not depend on how the log
// is split into writes.
func TestLastLineHash(t *testing.T) {
	lines, head := auditLog(t, 3)
	log := []byte(strings.Join(lines, ""))
	if want := hashOf(lines[2]); want != head {
		t.Fatalf("hashOf %s, writer's head %s", want, head)
	}
	for _, size := range []int{1, 2, 3, 7, 64, len(log)} {
		h := &lastLineHash{h: sha256.New(), sum: audit.ZeroHash}
		for b := log; len(b) > 0; {
			n := min(size, len(b))
			if k, err := h.Write(b[:n]); k != n || err != nil {
				t.Fatalf("Write: %d, %v", k, err)
			}
			b = b[n:]
		}
		if h.sum != head {
			t.Errorf("writes of %d bytes: last hash %s, want %s", size, h.sum, head)
		}
	}
}
