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
	// Protocol is "grpc" for a request over the Open Inference
	// Protocol's gRPC service; empty for HTTP.
	Protocol string `json:"protocol,omitempty"`
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

// ModelUnload is the record of a model an operator took out of a
// repository's service (POST /v2/repository/models/{name}/unload).
type ModelUnload struct {
	Name     string   `json:"model_name"`
	Versions []string `json:"versions"`
}

// EventType implements Event.
func (ModelUnload) EventType() string { return "model_unload" }

// FileReload is the record of a reload of a file serve reads besides the
// model (SIGHUP, POST /admin/reload, --watch): the TLS certificate or the
// trusted model-signing keys. A refused one leaves the previous in force.
type FileReload struct {
	// What is "tls_certificate" or "trusted_keys".
	What string `json:"what"`
	Path string `json:"path"`
	OK   bool   `json:"ok"`
	// Detail identifies what was loaded: the certificate's SHA-256
	// fingerprint, the key ids.
	Detail string `json:"detail,omitempty"`
	// Reason is why it was refused.
	Reason string `json:"reason,omitempty"`
}

// EventType implements Event.
func (FileReload) EventType() string { return "file_reload" }

// Refusals counts one client's prediction requests refused in one minute
// before their upload was read (429 rate_limited, probing_suspected,
// too_many_pending; 503 server_busy): a record per client and minute
// rather than a line per refusal, which a flood would make millions of.
type Refusals struct {
	// Minute is the start of the minute, RFC 3339, UTC.
	Minute string `json:"minute"`
	// Client is the client as the rate limiter keys it: an IPv4 address or
	// an IPv6 /64 (after --trusted-proxy).
	Client string `json:"client"`
	// Counts maps "STATUS code" ("429 rate_limited") to the number of
	// refusals.
	Counts map[string]int `json:"counts"`
}

// EventType implements Event.
func (Refusals) EventType() string { return "refusals" }

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
// are serialised by a mutex and each is written with a single Write.
//
// When a write fails (a full disk), the record is dropped and counted
// (Dropped): a log file that Open opened is cut back to its last whole
// record, so that its chain stays intact, and the next record that is
// written is preceded by a RecordsDropped record that says how many are
// missing. Where the file cannot be cut back (a stream, a device) the
// Writer refuses every further record, still counting them, until Reopen
// succeeds.
type Writer struct {
	mu      sync.Mutex
	w       io.Writer
	file    logFile // the log file Open opened, or nil
	path    string  // its path, for Reopen
	size    int64   // bytes of whole records in file
	seq     uint64  // of the last record written
	prev    string  // hex SHA-256 of the last line
	err     error   // sticky write error
	dropped uint64  // records not written, in all
	gap     uint64  // records not written since the last one written
	now     func() time.Time
}

// logFile is what a Writer needs of an *os.File.
type logFile interface {
	io.Writer
	io.Closer
	Truncate(size int64) error
}

// RecordsDropped is the record that precedes the first record written
// after a failure: Count records are missing from the log before it.
type RecordsDropped struct {
	Count uint64 `json:"count"`
}

// EventType implements Event.
func (RecordsDropped) EventType() string { return "records_dropped" }

// LogContinued is the first record of a log file that continues the chain
// of another, after a rotation (Reopen): its seq and prev follow the last
// record of the previous file.
type LogContinued struct{}

// EventType implements Event.
func (LogContinued) EventType() string { return typeLogContinued }

const typeLogContinued = "log_continued"

// ErrDropped is wrapped by the errors of records a Writer could not write.
var ErrDropped = errors.New("audit: record dropped")

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
	f, size, seq, prev, err := openLog(path)
	if err != nil {
		return nil, err
	}
	w := NewWriter(f)
	w.file, w.path, w.size = f, path, size
	if seq > 0 {
		w.seq, w.prev = seq, prev
	}
	return w, nil
}

// openLog opens the log at path for appending, and reads its size and
// the seq and hash of its last record (0 and "" when it is empty).
func openLog(path string) (f *os.File, size int64, seq uint64, prev string, err error) {
	f, err = os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, 0, "", fmt.Errorf("audit log: %w", err)
	}
	last, err := lastLine(f)
	if err == nil && last != nil {
		var h header
		if h, err = parseHeader(last); err == nil {
			seq, prev = h.Seq, hashLine(last)
		}
	}
	if err == nil {
		var st os.FileInfo
		if st, err = f.Stat(); err == nil {
			size = st.Size()
		}
	}
	if err != nil {
		f.Close()
		return nil, 0, 0, "", fmt.Errorf("audit log %s: %w", path, err)
	}
	return f, size, seq, prev, nil
}

// Reopen opens the log's path again, for log rotation (serve does it on
// SIGHUP) and to recover from a failure: a new, empty file there (the old
// one was moved away) gets a LogContinued record that carries on the
// chain; the same file, or one that ends with this Writer's last record,
// is appended to. A file there that ends with another record is refused,
// and the Writer goes on as before. A Writer from NewWriter has nothing to
// reopen.
func (w *Writer) Reopen() error {
	if w == nil {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.path == "" {
		return nil
	}
	f, size, seq, prev, err := openLog(w.path)
	if err != nil {
		return err
	}
	if size > 0 && (seq != w.seq || prev != w.prev) {
		f.Close()
		return fmt.Errorf("audit log %s: its last record (seq %d) is not this log's last (seq %d); not appending to it", w.path, seq, w.seq)
	}
	if w.file != nil {
		w.file.Close()
	}
	w.w, w.file, w.size, w.err = f, f, size, nil
	if size == 0 && w.seq > 0 {
		return w.write(LogContinued{})
	}
	return nil
}

// Dropped is the number of records not written because of write
// failures, since the Writer was made.
func (w *Writer) Dropped() uint64 {
	if w == nil {
		return 0
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dropped
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
		w.dropped++
		w.gap++
		return fmt.Errorf("%w: %w", ErrDropped, w.err)
	}
	if w.gap > 0 {
		if err := w.write(RecordsDropped{Count: w.gap}); err != nil {
			w.dropped++
			w.gap++
			return err
		}
		w.gap = 0
	}
	if err := w.writeBody(ev.EventType(), body); err != nil {
		w.dropped++
		w.gap++
		return err
	}
	return nil
}

// write appends ev as the next record; w.mu is held. On a failed write
// it cuts the file back to its last whole record, or where it cannot,
// makes the failure sticky.
func (w *Writer) write(ev Event) error {
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return w.writeBody(ev.EventType(), body)
}

// writeBody is write of an event of type typ already encoded as body (a
// JSON object without the header's keys).
func (w *Writer) writeBody(typ string, body []byte) error {
	h := header{Seq: w.seq + 1, Time: w.now().UTC().Format(time.RFC3339Nano), Type: typ, Prev: w.prev}
	line, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if len(body) > 2 { // not "{}"
		line = append(line[:len(line)-1], ',')
		line = append(line, body[1:]...)
	}
	if len(line) >= MaxLine {
		return fmt.Errorf("audit: %s record is longer than %d bytes", typ, MaxLine)
	}
	hash := hashLine(line)
	if _, err := w.w.Write(append(line, '\n')); err != nil {
		err = fmt.Errorf("%w: writing record %d: %w", ErrDropped, h.Seq, err)
		if w.file == nil || w.file.Truncate(w.size) != nil {
			w.err = err // the chain on disk may end in a partial line
		}
		return err
	}
	w.size += int64(len(line)) + 1
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
	w.path = "" // nothing to reopen
	if w.file == nil {
		return nil
	}
	c := w.file
	w.file = nil
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
// A log that continues a rotated one (VerifyLog) verifies too.
//
// An edited line shows as the next line's prev not matching (or, for the
// last line, not at all: anchor the last hash elsewhere); a deleted,
// inserted or reordered line as a wrong seq or prev; a truncated last
// line as a missing newline.
func Verify(r io.Reader) (n int, err error) {
	sum, err := VerifyLog(r)
	return sum.Records, err
}

// Summary describes a log VerifyLog checked.
type Summary struct {
	// Records is the number of good records.
	Records int
	// FirstSeq and LastSeq are the seq of the first and last records.
	FirstSeq, LastSeq uint64
	// Continues is set for a log that starts with a LogContinued record:
	// it carries on, after a rotation, the chain of a log whose last
	// record had seq FirstSeq-1 and hash Prev.
	Continues bool
	// Prev is the first record's prev; LastHash the last line's SHA-256.
	Prev, LastHash string
}

// VerifyLog is Verify, with what it found: a log may start at a seq other
// than 1 only with a LogContinued record (a rotation); any other start is
// a cut.
func VerifyLog(r io.Reader) (sum Summary, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	prev := ZeroHash
	sum.LastHash = ZeroHash
	for lineNo := 1; ; lineNo++ {
		line, err := readLine(br)
		if err == io.EOF {
			return sum, nil
		}
		bad := func(format string, args ...any) (Summary, error) {
			return sum, &Error{Line: lineNo, Reason: fmt.Sprintf(format, args...)}
		}
		switch {
		case err == errTruncated:
			return bad("truncated: the last line has no newline")
		case err == errTooLong:
			return bad("longer than %d bytes", MaxLine)
		case err != nil:
			return sum, fmt.Errorf("line %d: reading: %w", lineNo, err)
		}
		h, err := parseHeader(line)
		if err != nil {
			return bad("%v", err)
		}
		if lineNo == 1 {
			if h.Seq != 1 && h.Type != typeLogContinued {
				return bad("seq is %d, want 1: the log does not start with its first record, and does not say it continues a rotated one (lines were cut from the start)", h.Seq)
			}
			if h.Seq > 1 {
				sum.Continues, prev = true, h.Prev
			}
			sum.FirstSeq, sum.Prev = h.Seq, h.Prev
		}
		if want := sum.FirstSeq + uint64(sum.Records); h.Seq != want {
			return bad("seq is %d, want %d (a line was deleted, inserted or moved)", h.Seq, want)
		}
		if h.Prev != prev {
			if lineNo == 1 {
				return bad("prev of the first record is not all zeros")
			}
			return bad("prev does not match the SHA-256 of line %d (line %d was altered, or lines were deleted, inserted or moved)", lineNo-1, lineNo-1)
		}
		prev = hashLine(line)
		sum.Records++
		sum.LastSeq, sum.LastHash = h.Seq, prev
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
