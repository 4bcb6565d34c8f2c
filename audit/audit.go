// Package audit is huskyai's audit trail: an append-only log of JSON
// lines, one record per line, chained by SHA-256 so that an edited,
// deleted, inserted, reordered or truncated line is detected by Verify.
//
// Each record is one JSON object:
//
//	{"seq":1,"time":"2026-11-25T06:00:00.123456789Z","type":"prediction","prev":"000...000", ...event fields}
//
// seq counts records from 1; time is RFC 3339 with nanoseconds, UTC; type
// names the event; prev is the hex SHA-256 of the previous line's bytes
// (without its newline), 64 zeros for the first record. The event's own
// fields follow (see Prediction, ModelLoad, ModelRefused).
//
// The chain proves the order and integrity of the lines up to the last
// one; it cannot tell that lines were cut from the end, or that the whole
// file was rewritten with a new chain. Copy the last line's hash somewhere
// else (a log collector, a signed checkpoint) to anchor it.
package audit

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// ZeroHash is the prev of the first record of a log.
var ZeroHash = strings.Repeat("0", 64)

// MaxLine is the longest line Open and Verify accept, in bytes.
const MaxLine = 1 << 20

// Event is what a record says happened. Its JSON encoding must be an
// object whose keys do not include seq, time, type or prev.
type Event interface {
	// EventType is the record's "type".
	EventType() string
}

// Logger records events. *Writer implements it; a nil *Writer records
// nothing, so auditing is optional.
type Logger interface {
	Record(ctx context.Context, ev Event) error
}

// Prediction is the record of one prediction request that got as far as
// its upload being read, whatever its outcome. It never carries the image,
// only its hash and size.
type Prediction struct {
	RequestID string `json:"request_id"`
	// ClientAddr is the client's address as the server sees it (the
	// connection's peer).
	ClientAddr string `json:"client_addr"`
	// ForwardedFor is the client's IP address as a trusted proxy reported
	// it in X-Forwarded-For (huskyai serve --trusted-proxy), when the
	// connection's peer is such a proxy; the server then keys its
	// per-client limits on it. Empty when the client is the peer.
	ForwardedFor string `json:"forwarded_for,omitempty"`
	// ImageSHA256 is the hex SHA-256 of the uploaded bytes; empty when
	// the upload could not be read (413, malformed request).
	ImageSHA256 string `json:"image_sha256,omitempty"`
	ImageBytes  int    `json:"image_bytes"`
	Format      string `json:"format,omitempty"`
	Width       int    `json:"width,omitempty"`
	Height      int    `json:"height,omitempty"`
	ModelSHA256 string `json:"model_sha256"`
	// Probability is the model's output; nil when there is none.
	Probability *float32 `json:"probability,omitempty"`
	LatencyMS   float64  `json:"latency_ms"`
	Status      int      `json:"status"`
	// ErrorCode is the code of the JSON error response, if any.
	ErrorCode string `json:"error_code,omitempty"`
	// Inferences is the number of times the model ran for the request
	// when it is more than once: an explanation's.
	Inferences int `json:"inferences,omitempty"`
	// Probing is set when the server's probing detector flagged the
	// request: its client sent many near-identical but not identical
	// images in a short time.
	Probing bool `json:"probing,omitempty"`
}

// EventType implements Event.
func (Prediction) EventType() string { return "prediction" }

// ModelLoad is the record of a model being loaded for serving.
type ModelLoad struct {
	Name   string `json:"model_name"`
	SHA256 string `json:"model_sha256"`
	Format string `json:"model_format"`
	// Source is the model file's path, or "embedded".
	Source      string `json:"source,omitempty"`
	Placeholder bool   `json:"placeholder"`
	// Signed reports that the model's signature verified with a trusted
	// key; SignerKeyID is that key's id.
	Signed      bool   `json:"signed"`
	SignerKeyID string `json:"signer_key_id,omitempty"`
	// Checks is the number of signed self-test images the model passed.
	Checks int `json:"checks,omitempty"`
	// Reload is set when the model replaced a served one (not at start).
	Reload bool `json:"reload,omitempty"`
}

// EventType implements Event.
func (ModelLoad) EventType() string { return "model_load" }

// ModelRefused is the record of a model that was not loaded, for example
// because its signature did not verify.
type ModelRefused struct {
	Source string `json:"source,omitempty"`
	SHA256 string `json:"model_sha256,omitempty"`
	Reason string `json:"reason"`
	// Kind classifies Reason in one word, such as "bad_signature" or
	// "self_test" (see modelstore.Kind).
	Kind string `json:"kind,omitempty"`
	// SignerKeyID is the key id the signature names, if it was read.
	SignerKeyID string `json:"signer_key_id,omitempty"`
	// Reload is set when a served model was to be replaced: the old one
	// keeps serving.
	Reload bool `json:"reload,omitempty"`
}

// EventType implements Event.
func (ModelRefused) EventType() string { return "model_refused" }

// reserved are the keys of the record header, which events may not use.
var reserved = [...]string{"seq", "time", "type", "prev"}

// header is the start of every record. Its field order is the order of
// the keys in each line.
type header struct {
	Seq  uint64 `json:"seq"`
	Time string `json:"time"`
	Type string `json:"type"`
	Prev string `json:"prev"`
}

// Writer appends records to a log. It is safe for concurrent use: records
// are serialised by a mutex and each is written with a single Write. After
// a failed write it refuses further records, since the chain on disk may
// be broken.
type Writer struct {
	mu     sync.Mutex
	w      io.Writer
	closer io.Closer
	seq    uint64 // of the last record written
	prev   string // hex SHA-256 of the last line
	err    error  // sticky write error
	now    func() time.Time
}

// NewWriter returns a Writer that starts a new chain (seq 1, prev
// ZeroHash) on w. Close does not close w.
func NewWriter(w io.Writer) *Writer {
	return &Writer{w: w, prev: ZeroHash, now: time.Now}
}

// Open opens the log file at path for appending, creating it with mode
// 0600 if needed. A file with records continues their chain: Open reads
// its last line and goes on from its seq and hash. A file that does not
// end with a newline, or whose last line is not a record, is refused as
// corrupt. Open does not verify the whole file; Verify does.
func Open(path string) (*Writer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	w := NewWriter(f)
	w.closer = f
	last, err := lastLine(f)
	if err == nil && last != nil {
		var h header
		h, err = parseHeader(last)
		if err == nil {
			w.seq, w.prev = h.Seq, hashLine(last)
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log %s: %w", path, err)
	}
	return w, nil
}

// lastLine returns the last line of f without its newline, or nil when f
// is empty.
func lastLine(f *os.File) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	size := st.Size()
	if size == 0 {
		return nil, nil
	}
	var b [1]byte
	if _, err := f.ReadAt(b[:], size-1); err != nil {
		return nil, err
	}
	if b[0] != '\n' {
		return nil, errors.New("corrupt: the last line is truncated (no newline at the end of the file)")
	}
	// Read backwards in chunks until the newline before the last line.
	const chunk = 64 << 10
	end := size - 1 // the final newline
	var line []byte
	for pos := end; pos > 0; {
		n := min(int64(chunk), pos)
		buf := make([]byte, n)
		if _, err := f.ReadAt(buf, pos-n); err != nil {
			return nil, err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return append(buf[i+1:], line...), nil
		}
		line = append(buf, line...)
		if len(line) > MaxLine {
			return nil, fmt.Errorf("corrupt: the last line is longer than %d bytes", MaxLine)
		}
		pos -= n
	}
	return line, nil
}

// Record appends ev as the next record. A nil *Writer records nothing and
// returns nil.
func (w *Writer) Record(ctx context.Context, ev Event) error {
	if w == nil {
		return nil
	}
	if ev == nil || ev.EventType() == "" {
		return errors.New("audit: event without a type")
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := checkBody(body); err != nil {
		return fmt.Errorf("audit: %s event: %w", ev.EventType(), err)
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return w.err
	}
	h := header{Seq: w.seq + 1, Time: w.now().UTC().Format(time.RFC3339Nano), Type: ev.EventType(), Prev: w.prev}
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(body) > 2 { // not "{}"
		line = append(line[:len(line)-1], ',')
		line = append(line, body[1:]...)
	}
	if len(line) >= MaxLine {
		return fmt.Errorf("audit: %s record is longer than %d bytes", ev.EventType(), MaxLine)
	}
	hash := hashLine(line)
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		w.err = fmt.Errorf("audit: writing record %d: %w", h.Seq, err)
		return w.err
	}
	w.seq, w.prev = h.Seq, hash
	return nil
}

// checkBody checks that an event encodes as a JSON object without the
// header's keys.
func checkBody(body []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil || m == nil {
		return errors.New("does not encode as a JSON object")
	}
	for _, k := range reserved {
		if _, ok := m[k]; ok {
			return fmt.Errorf("uses the reserved key %q", k)
		}
	}
	return nil
}

// Head returns the seq and hash of the last record written (0 and
// ZeroHash for a new log): the value to anchor elsewhere.
func (w *Writer) Head() (seq uint64, hash string) {
	if w == nil {
		return 0, ZeroHash
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.seq, w.prev
}

// Close closes the file Open opened; for a Writer from NewWriter it does
// nothing. A nil *Writer is fine.
func (w *Writer) Close() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = errors.New("audit: log closed")
	}
	if w.closer == nil {
		return nil
	}
	c := w.closer
	w.closer = nil
	return c.Close()
}

func hashLine(line []byte) string {
	sum := sha256.Sum256(line)
	return hex.EncodeToString(sum[:])
}

// Error is a failed verification: the first bad line and why.
type Error struct {
	Line   int // 1-based
	Reason string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Reason) }

// parseHeader decodes and checks the header fields of a line.
func parseHeader(line []byte) (header, error) {
	var raw struct {
		Seq  *uint64 `json:"seq"`
		Time *string `json:"time"`
		Type *string `json:"type"`
		Prev *string `json:"prev"`
	}
	if len(line) == 0 {
		return header{}, errors.New("empty line")
	}
	if line[0] != '{' {
		return header{}, errors.New("not a JSON object")
	}
	if err := json.Unmarshal(line, &raw); err != nil {
		return header{}, fmt.Errorf("not a JSON record: %v", err)
	}
	switch {
	case raw.Seq == nil:
		return header{}, errors.New(`no "seq"`)
	case raw.Time == nil:
		return header{}, errors.New(`no "time"`)
	case raw.Type == nil || *raw.Type == "":
		return header{}, errors.New(`no "type"`)
	case raw.Prev == nil:
		return header{}, errors.New(`no "prev"`)
	}
	if _, err := time.Parse(time.RFC3339Nano, *raw.Time); err != nil {
		return header{}, fmt.Errorf("bad time %q", *raw.Time)
	}
	if !isHash(*raw.Prev) {
		return header{}, fmt.Errorf("prev %q is not a hex SHA-256", *raw.Prev)
	}
	return header{Seq: *raw.Seq, Time: *raw.Time, Type: *raw.Type, Prev: *raw.Prev}, nil
}

func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// Verify reads a whole log and checks its chain: every line is a record,
// seq starts at 1 and goes up by one, and prev is ZeroHash for the first
// record and the SHA-256 of the previous line for the others. It returns
// the number of good records before the first bad line, and for a bad
// line an *Error with its number and the reason. An empty log verifies.
//
// An edited line shows as the next line's prev not matching (or, for the
// last line, not at all: anchor the last hash elsewhere); a deleted,
// inserted or reordered line as a wrong seq or prev; a truncated last
// line as a missing newline.
func Verify(r io.Reader) (n int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	prev := ZeroHash
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF {
			return n, nil
		}
		bad := func(format string, args ...any) (int, error) {
			return n, &Error{Line: lineNo, Reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case err == errTruncated:
			return bad("truncated: the last line has no newline")
		case err == errTooLong:
			return bad("longer than %d bytes", MaxLine)
		case err != nil:
			return n, fmt.Errorf("line %d: reading: %w", lineNo, err)
		}
		h, err := parseHeader(line)
		if err != nil {
			return bad("%v", err)
		}
		if want := uint64(n) + 1; h.Seq != want {
			return bad("seq is %d, want %d (a line was deleted, inserted or moved)", h.Seq, want)
		}
		if h.Prev != prev {
			if lineNo == 1 {
				return bad("prev of the first record is not all zeros")
			}
			return bad("prev does not match the SHA-256 of line %d (line %d was altered, or lines were deleted, inserted or moved)", lineNo-1, lineNo-1)
		}
		prev = hashLine(line)
		n++
	}
}

var (
	errTruncated = errors.New("truncated")
	errTooLong   = errors.New("too long")
)

// readLine returns the next line without its newline; io.EOF at the end,
// errTruncated for a last line without a newline, errTooLong beyond
// MaxLine.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		frag, err := br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > MaxLine+1 {
			return nil, errTooLong
		}
		switch {
		case err == nil:
			return line[:len(line)-1], nil
		case err == bufio.ErrBufferFull:
			continue
		case err == io.EOF:
			if len(line) == 0 {
				return nil, io.EOF
			}
			return nil, errTruncated
		default:
			return nil, err
		}
	}
}
