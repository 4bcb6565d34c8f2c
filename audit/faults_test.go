package audit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// fullDisk is a log file on a disk with room for free more bytes: a
// write beyond it writes what fits and fails with ENOSPC, as write(2)
// does on a full file system. Truncate cuts the file, and frees room.
type fullDisk struct {
	bytes.Buffer
	free      int
	truncates int
}

func (d *fullDisk) Write(p []byte) (int, error) {
	if len(p) > d.free {
		n := max(d.free, 0)
		d.Buffer.Write(p[:n])
		d.free -= n
		return n, syscall.ENOSPC
	}
	d.free -= len(p)
	return d.Buffer.Write(p)
}

func (d *fullDisk) Truncate(size int64) error {
	d.truncates++
	d.free += d.Len() - int(size)
	d.Buffer.Truncate(int(size))
	return nil
}

func (d *fullDisk) Close() error { return nil }

func record(w *Writer, i int) error {
	return w.Record(context.Background(), Prediction{RequestID: "r" + string(rune('a'+i)), Status: 200})
}

// TestFullDisk: records that do not fit are dropped and counted, the
// partial line is cut off so that the file stays a valid chain, and once
// there is room again the next record is preceded by one that says how
// many are missing.
func TestFullDisk(t *testing.T) {
	disk := &fullDisk{free: 1 << 20}
	w := NewWriter(disk)
	w.file = disk
	for i := range 3 {
		if err := record(w, i); err != nil {
			t.Fatal(err)
		}
	}
	disk.free = 40 // the disk fills up: part of the next line fits
	for i := range 2 {
		if err := record(w, 3+i); !errors.Is(err, ErrDropped) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("record on a full disk: %v, want ErrDropped and ENOSPC", err)
		}
	}
	if w.Dropped() != 2 || disk.truncates != 2 {
		t.Fatalf("dropped %d, truncations %d; want 2, 2", w.Dropped(), disk.truncates)
	}
	if n, err := Verify(bytes.NewReader(disk.Bytes())); err != nil || n != 3 {
		t.Fatalf("the log on the full disk: %d records, %v; want 3 and a valid chain", n, err)
	}
	disk.free = 1 << 20 // room again
	if err := record(w, 9); err != nil {
		t.Fatal(err)
	}
	sum, err := VerifyLog(bytes.NewReader(disk.Bytes()))
	if err != nil || sum.Records != 5 || sum.LastSeq != 5 {
		t.Fatalf("after the disk has room again: %+v, %v; want 5 records", sum, err)
	}
	ls := lines(disk.Bytes())
	if !bytes.Contains(ls[3], []byte(`"type":"records_dropped","prev"`)) || !bytes.Contains(ls[3], []byte(`"count":2`)) ||
		!bytes.Contains(ls[4], []byte(`"request_id":"rj"`)) {
		t.Errorf("lines 4 and 5:\n%s%s", ls[3], ls[4])
	}
}

// TestDevFull: where the log cannot be cut back (/dev/full), every
// record after the failure is dropped and counted, until Reopen.
func TestDevFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	w, err := Open("/dev/full")
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 3 {
		if err := record(w, i); !errors.Is(err, ErrDropped) {
			t.Fatalf("record %d to /dev/full: %v, want ErrDropped", i, err)
		}
	}
	if w.Dropped() != 3 {
		t.Errorf("dropped %d, want 3", w.Dropped())
	}
}

// TestRotation: after the log is moved away, Reopen starts a new file
// whose first record (log_continued) carries on the chain; VerifyLog tells
// that start from a cut; Reopen refuses a file that is another log.
func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	w, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for i := range 2 {
		if err := record(w, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Reopen(); err != nil { // nothing moved: the same file
		t.Fatal(err)
	}
	if err := record(w, 2); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err != nil {
		t.Fatal(err)
	}
	if err := record(w, 3); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	s1, err1 := VerifyLog(bytes.NewReader(old))
	s2, err2 := VerifyLog(bytes.NewReader(cur))
	if err1 != nil || err2 != nil || s1.Records != 3 || s1.Continues {
		t.Fatalf("rotated file: %+v %v; new file: %+v %v", s1, err1, s2, err2)
	}
	if !s2.Continues || s2.FirstSeq != 4 || s2.Prev != s1.LastHash || s2.Records != 2 || s2.LastSeq != 5 {
		t.Errorf("new file %+v; want it to continue seq 3, hash %s, with 2 records", s2, s1.LastHash)
	}
	if !bytes.Contains(lines(cur)[0], []byte(`"type":"log_continued"`)) {
		t.Errorf("first line of the new file: %s", lines(cur)[0])
	}
	// A cut: the old file without its first line.
	if _, err := VerifyLog(bytes.NewReader(join(lines(old)[1:]))); err == nil || !strings.Contains(err.Error(), "cut from the start") {
		t.Errorf("a log without its first line: %v, want a cut", err)
	}
	// Another log at the path: not appended to.
	other := filepath.Join(dir, "other.log")
	ow, err := Open(other)
	if err != nil {
		t.Fatal(err)
	}
	record(ow, 7)
	ow.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	if err := w.Reopen(); err == nil {
		t.Error("Reopen appended to another log's chain")
	}
	if err := record(w, 8); err != nil {
		t.Errorf("after a refused Reopen the Writer goes on: %v", err)
	}
}
