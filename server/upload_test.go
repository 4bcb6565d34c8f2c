package server

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestBodyError: each way reading an upload can fail gets its status, and
// network errors, which name the server's addresses, are never quoted.
func TestBodyError(t *testing.T) {
	tooLarge := &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge, "too large"}
	addr := &net.TCPAddr{IP: net.IPv4(10, 1, 2, 3), Port: 8443}
	opErr := func(err error) error { return &net.OpError{Op: "read", Net: "tcp", Addr: addr, Err: err} }
	tests := []struct {
		name     string
		err      error
		tooLarge *uploadError
		status   int
		code     string
	}{
		{"over the limit", &http.MaxBytesError{Limit: 10}, tooLarge, 413, codeTooLarge},
		{"read timeout", opErr(os.ErrDeadlineExceeded), tooLarge, 408, codeUploadTimeout},
		{"read timeout inside multipart", fmt.Errorf("multipart: NextPart: %w", opErr(os.ErrDeadlineExceeded)), tooLarge, 408, codeUploadTimeout},
		{"connection reset", opErr(syscall.ECONNRESET), tooLarge, 400, codeBadRequest},
		{"bare reset", syscall.ECONNRESET, nil, 400, codeBadRequest},
		{"client stopped early", io.ErrUnexpectedEOF, tooLarge, 400, codeBadRequest},
		{"broken multipart", errors.New("multipart: NextPart: EOF"), tooLarge, 400, codeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := bodyError(tt.err, tt.tooLarge)
			if got.status != tt.status || got.code != tt.code {
				t.Errorf("bodyError(%v) = %d %s %q; want %d %s", tt.err, got.status, got.code, got.message, tt.status, tt.code)
			}
			if strings.Contains(got.message, "10.1.2.3") {
				t.Errorf("message %q quotes the network error", got.message)
			}
		})
	}
}
