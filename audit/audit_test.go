package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// writeLog records n prediction events with a fixed clock and returns
// the log.
func writeLog(t testing.TB, n int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := NewWriter(&buf)
	w.now = func() time.Time { return time.Date(2026, 11, 25, 6, 0, 0, 123, time.UTC) }
	for i := range n {
		p := float32(i) / 10
		ev := Prediction{RequestID: "req" + string(rune('a'+i)), ClientAddr: "192.0.2.1", ImageSHA256: strings.Repeat("e", 64),
			ImageBytes: 100 + i, Format: "png", Width: 128, Height: 128, ModelSHA256: strings.Repeat("ab", 32),
			Probability: &p, LatencyMS: 1.5, Status: 200}
		if err := w.Record(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func lines(b []byte) [][]byte {
	return bytes.SplitAfter(b, []byte("\n"))[:bytes.Count(b, []byte("\n"))]
}

func join(ls [][]byte) []byte { return bytes.Join(ls, nil) }

func TestRecordFormat(t *testing.T) {
	log := writeLog(t, 2)
	ls := lines(log)
	if len(ls) != 2 {
		t.Fatalf("%d lines, want 2:\n%s", len(ls), log)
	}
	var first, second map[string]any
	if err := json.Unmarshal(ls[0], &first); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(ls[1], &second); err != nil {
		t.Fatal(err)
	}
	if first["seq"] != 1.0 || first["type"] != "prediction" || first["prev"] != ZeroHash ||
		first["time"] != "2026-11-25T06:00:00.000000123Z" || first["status"] != 200.0 || first["image_sha256"] != strings.Repeat("e", 64) {
		t.Errorf("first record: %s", ls[0])
	}
	if second["seq"] != 2.0 || second["prev"] != hashLine(bytes.TrimSuffix(ls[0], []byte("\n"))) {
		t.Errorf("second record does not chain to the first: %s", ls[1])
	}
	if !bytes.HasPrefix(ls[0], []byte(`{"seq":1,"time":`)) {
		t.Errorf("header keys not first: %s", ls[0])
	}
}

func TestVerify(t *testing.T) {
	good := writeLog(t, 5)
	ls := lines(good)
	edit := func(i int, from, to string) [][]byte {
		out := append([][]byte(nil), ls...)
		out[i] = bytes.Replace(out[i], []byte(from), []byte(to), 1)
		if bytes.Equal(out[i], ls[i]) {
			t.Fatalf("edit of line %d changed nothing", i+1)
		}
		return out
	}
	// forged is a record in the place of line 3, well formed, with seq 3
	// and its own hash recomputed for line 4 to chain to it, but a prev
	// that is not line 2's hash.
	forged := []byte(`{"seq":3,"time":"2026-11-25T06:00:00Z","type":"prediction","prev":"` + strings.Repeat("1", 64) + `","status":200}` + "\n")
	relinked := bytes.Replace(ls[3], []byte(hashLine(bytes.TrimSuffix(ls[2], []byte("\n")))),
		[]byte(hashLine(bytes.TrimSuffix(forged, []byte("\n")))), 1)

	tests := []struct {
		name     string
		log      []byte
		wantN    int
		wantLine int // 0: verifies
		reason   string
	}{
		{"intact", good, 5, 0, ""},
		{"empty", nil, 0, 0, ""},
		{"edited field in line 3", join(edit(2, `"image_bytes":102`, `"image_bytes":103`)), 3, 4, "prev does not match the SHA-256 of line 3"},
		{"edited seq in line 3", join(edit(2, `"seq":3`, `"seq":4`)), 2, 3, "seq is 4, want 3"},
		{"deleted line 2", join([][]byte{ls[0], ls[2], ls[3], ls[4]}), 1, 2, "seq is 3, want 2"},
		{"deleted line 1", join(ls[1:]), 0, 1, "seq is 2, want 1"},
		{"swapped lines 2 and 3", join([][]byte{ls[0], ls[2], ls[1], ls[3], ls[4]}), 1, 2, "seq is 3, want 2"},
		{"forged line 3 with wrong prev", join([][]byte{ls[0], ls[1], forged, relinked, ls[4]}), 2, 3, "prev does not match the SHA-256 of line 2"},
		{"inserted line 3", join([][]byte{ls[0], ls[1], forged, ls[2], ls[3], ls[4]}), 2, 3, "prev does not match"},
		{"truncated last line", good[:len(good)-10], 4, 5, "truncated"},
		{"missing final newline", good[:len(good)-1], 4, 5, "truncated"},
		{"first prev not zero", join(edit(0, ZeroHash, strings.Repeat("1", 64))), 0, 1, "not all zeros"},
		{"garbage line", join([][]byte{ls[0], []byte("hello\n"), ls[1]}), 1, 2, "not a JSON object"},
		{"blank line", join([][]byte{ls[0], []byte("\n"), ls[1]}), 1, 2, "empty line"},
		{"no prev", join(edit(1, `"prev":`, `"prex":`)), 1, 2, `no "prev"`},
		{"bad time", join(edit(0, `"time":"2026`, `"time":"x2026`)), 0, 1, "bad time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := Verify(bytes.NewReader(tt.log))
			if tt.wantLine == 0 {
				if err != nil || n != tt.wantN {
					t.Fatalf("Verify = %d, %v; want %d, nil", n, err, tt.wantN)
				}
				return
			}
			var ve *Error
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %d, %v; want an *Error at line %d", n, err, tt.wantLine)
			}
			if ve.Line != tt.wantLine || !strings.Contains(ve.Reason, tt.reason) || n != tt.wantN {
				t.Errorf("Verify = %d, %v; want %d records then line %d: ...%s...", n, err, tt.wantN, tt.wantLine, tt.reason)
			}
		})
	}
}

func TestOpenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.log")
	for round := range 3 {
		w, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if seq, _ := w.Head(); seq != uint64(2*round) {
			t.Fatalf("round %d: Open continues at seq %d, want %d", round, seq, 2*round)
		}
		for range 2 {
			if err := w.Record(context.Background(), ModelLoad{Name: "m", SHA256: strings.Repeat("ab", 32), Format: "onnx"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if err := w.Record(context.Background(), ModelLoad{}); err == nil {
			t.Error("Record after Close succeeded")
		}
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", st.Mode().Perm())
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := Verify(f); n != 6 || err != nil {
		t.Errorf("Verify = %d, %v; want 6, nil", n, err)
	}
}

func TestOpenRefusesCorrupt(t *testing.T) {
	good := writeLog(t, 3)
	long := append(bytes.Repeat([]byte("x"), 200<<10), '\n') // spans several read chunks
	for _, tt := range []struct {
		name    string
		content []byte
		want    string
	}{
		{"no final newline", good[:len(good)-1], "truncated"},
		{"truncated last line", good[:len(good)-7], "truncated"},
		{"last line not a record", append(append([]byte(nil), good...), "junk\n"...), "not a JSON object"},
		{"long last line", append(append([]byte(nil), good...), long...), "not a JSON object"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			w, err := Open(path)
			if err == nil {
				w.Close()
				t.Fatal("Open accepted a corrupt log")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open: %v; want %q", err, tt.want)
			}
		})
	}
}

func TestOpenLongLastLine(t *testing.T) {
	// A valid last record longer than one read chunk is found whole.
	path := filepath.Join(t.TempDir(), "audit.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	w.Record(context.Background(), ModelRefused{Reason: "short"})
	w.Record(context.Background(), ModelRefused{Reason: strings.Repeat("r", 150<<10)})
	_, head := w.Head()
	w.Close()
	w, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if seq, h := w.Head(); seq != 2 || h != head {
		t.Errorf("Head after reopening = %d, %s; want 2, %s", seq, h, head)
	}
}

func TestConcurrentRecords(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	const goroutines, each = 16, 50
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				w.Record(context.Background(), Prediction{RequestID: string(rune('A'+g)) + string(rune('a'+i%26)), Status: 200})
			}
		})
	}
	wg.Wait()
	if n, err := Verify(&buf); n != goroutines*each || err != nil {
		t.Errorf("Verify = %d, %v; want %d, nil", n, err, goroutines*each)
	}
}

func TestNilWriter(t *testing.T) {
	var w *Writer
	if err := w.Record(context.Background(), Prediction{}); err != nil {
		t.Error(err)
	}
	var l Logger = w
	if err := l.Record(context.Background(), ModelLoad{}); err != nil {
		t.Error(err)
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
}

type badEvent struct {
	Seq int `json:"seq"`
}

func (badEvent) EventType() string { return "bad" }

type listEvent []int

func (listEvent) EventType() string { return "list" }

func TestRecordRefusesBadEvents(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for _, ev := range []Event{badEvent{1}, listEvent{1}, nil} {
		if err := w.Record(context.Background(), ev); err == nil {
			t.Errorf("Record(%#v) succeeded", ev)
		}
	}
	if buf.Len() != 0 {
		t.Errorf("refused events were written: %s", buf.Bytes())
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestWriteErrorIsSticky(t *testing.T) {
	w := NewWriter(&failWriter{n: 1})
	ctx := context.Background()
	if err := w.Record(ctx, ModelLoad{}); err != nil {
		t.Fatal(err)
	}
	if err := w.Record(ctx, ModelLoad{}); err == nil {
		t.Fatal("failed write not reported")
	}
	if err := w.Record(ctx, ModelLoad{}); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("Record after a failed write: %v", err)
	}
}

func FuzzVerify(f *testing.F) {
	good := writeLog(f, 4)
	ls := lines(good)
	f.Add(good)
	f.Add([]byte{})
	f.Add([]byte("\n"))
	f.Add(good[:len(good)-3])
	f.Add(join([][]byte{ls[0], ls[2], ls[1], ls[3]}))
	f.Add([]byte(`{"seq":1,"time":"2026-11-25T06:00:00Z","type":"x","prev":"` + ZeroHash + `"}` + "\n"))
	f.Add([]byte(`{"seq":-1}` + "\n" + `[1,2]` + "\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := Verify(bytes.NewReader(b))
		if err == nil {
			if n != bytes.Count(b, []byte("\n")) {
				t.Fatalf("Verify OK with %d records for %d lines", n, bytes.Count(b, []byte("\n")))
			}
			return
		}
		var ve *Error
		if !errors.As(err, &ve) || ve.Line != n+1 {
			t.Fatalf("Verify = %d, %v: want an *Error at line %d", n, err, n+1)
		}
	})
}
