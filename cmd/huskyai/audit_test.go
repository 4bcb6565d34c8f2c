package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
		want   string // stdout on success, after "OK LOG: "; "" when an error is wanted
		reason string // a substring of the error
	}{
		{name: "genuine", log: join(lines...), want: fmt.Sprintf("5 records (seq 1..5), last hash %s\n", head)},
		{name: "empty", log: "", want: fmt.Sprintf("0 records, last hash %s\n", audit.ZeroHash)},
		{name: "first record only", log: lines[0], want: "1 records (seq 1..1), last hash " + hashOf(lines[0]) + "\n"},
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
				arg, label, stdin := "-", "standard input", io.Reader(strings.NewReader(tc.log))
				if via == "file" {
					arg, stdin = filepath.Join(t.TempDir(), "audit.log"), strings.NewReader("")
					label = arg
					if err := os.WriteFile(arg, []byte(tc.log), 0o600); err != nil {
						t.Fatal(err)
					}
				}
				stdout, _, err := runAuditCmd(t, stdin, "verify", arg)
				if tc.want != "" {
					if want := "OK " + label + ": " + tc.want; err != nil || stdout != want {
						t.Fatalf("audit verify: %v, printed %q, want %q", err, stdout, want)
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
		{"no log", []string{"verify"}, "a LOG"},
		{"two logs, one missing", []string{"verify", "a", "b"}, "no such file"},
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

// TestAuditVerifyRotated verifies a log rotated by serve's Reopen (on
// SIGHUP): the two files in order carry on one chain; the new file alone
// says which record it continues; in the wrong order, or with a file
// missing between them, they fail.
func TestAuditVerifyRotated(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	w, err := audit.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	rec := func(n int) {
		for range n {
			if err := w.Record(t.Context(), audit.Prediction{RequestID: "r", Status: 200}); err != nil {
				t.Fatal(err)
			}
		}
	}
	rotate := func(to string) {
		if err := os.Rename(path, to); err != nil {
			t.Fatal(err)
		}
		if err := w.Reopen(); err != nil {
			t.Fatal(err)
		}
	}
	rec(3)
	rotate(path + ".2")
	rec(2)
	rotate(path + ".1")
	rec(1)
	stdout, _, err := runAuditCmd(t, nil, "verify", path+".2", path+".1", path)
	if err != nil || strings.Count(stdout, "OK ") != 3 || !strings.Contains(stdout, "3 records (seq 4..6)") || !strings.Contains(stdout, "2 records (seq 7..8)") {
		t.Errorf("the three files in order: %v\n%s", err, stdout)
	}
	stdout, _, err = runAuditCmd(t, nil, "verify", path)
	if err != nil || !strings.Contains(stdout, "it continues a rotated log whose record 6 has hash") {
		t.Errorf("the newest file alone: %v\n%s", err, stdout)
	}
	for _, args := range [][]string{{path + ".1", path + ".2"}, {path + ".2", path}} {
		if _, _, err := runAuditCmd(t, nil, append([]string{"verify"}, args...)...); err == nil || !strings.Contains(err.Error(), "does not carry on") {
			t.Errorf("verify %v: %v, want a broken link", args, err)
		}
	}
}

// TestServeAuditRotation rotates serve's audit log as logrotate would:
// move it away, then SIGHUP (and once more with POST /admin/reload). The
// files verify as one chain, with the model reloads in the new files.
func TestServeAuditRotation(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "audit.log")
	s := startServe(t, nil, "--insecure-http", "--rate-limit", "0", "--audit-log", log, "--admin-addr", "127.0.0.1:0")
	img := testPNG(t, 40, 30)
	predict := func() {
		t.Helper()
		if st, _, err := s.predictSHA(img); err != nil || st != 200 {
			t.Fatalf("predict: %d %v", st, err)
		}
	}
	predict()
	if err := os.Rename(log, log+".2"); err != nil {
		t.Fatal(err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(log); bytes.Contains(b, []byte(`"type":"model_load"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no reopened log with the reload's record within 30s; stderr:\n%s", s.stderr)
		}
	}
	predict()
	if err := os.Rename(log, log+".1"); err != nil {
		t.Fatal(err)
	}
	if st, m := s.adminReload(t); st != 200 {
		t.Fatalf("admin reload: %d %v", st, m)
	}
	predict()
	stdout, _, err := runAuditCmd(t, nil, "verify", log+".2", log+".1", log)
	if err != nil || strings.Count(stdout, "OK ") != 3 {
		t.Fatalf("audit verify of the rotated files: %v\n%s", err, stdout)
	}
	for _, f := range []string{log + ".1", log} {
		b, _ := os.ReadFile(f)
		if !bytes.HasPrefix(b, []byte(`{"seq":`)) || !bytes.Contains(b, []byte(`"type":"log_continued"`)) ||
			!bytes.Contains(b, []byte(`"type":"model_load"`)) || !bytes.Contains(b, []byte(`"type":"prediction"`)) {
			t.Errorf("%s:\n%s", f, b)
		}
	}
}
