package server

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// predictResponse is the answer of POST /api/v1/predict and of the
// original POST /huskyai/ (whose contract is the "score" and "text"
// fields; with Config.LabelOnly "score" is absent).
type predictResponse struct {
	verdict
	Model     modelRef       `json:"model"`
	Image     imageprep.Info `json:"image"`
	ElapsedMS float64        `json:"elapsed_ms"`
	// Warning is the placeholder model's warning.
	Warning string `json:"warning,omitempty"`
}

// modelRef names the model that answered.
type modelRef struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	// SignerKeyID is the id of the trusted key whose signature verified;
	// empty for an unsigned model.
	SignerKeyID string `json:"signer_key_id,omitempty"`
	// Version is the version of a repository's model (then Name is the
	// repository's name for it); "1" for a single model.
	Version     string    `json:"version,omitempty"`
	InputShape  [3]int    `json:"input_shape"`
	LoadedAt    time.Time `json:"loaded_at,omitzero"`
	Placeholder bool      `json:"placeholder,omitempty"`
}

func newModelRef(info classifier.ModelInfo) modelRef {
	return modelRef{Name: info.Name, SHA256: info.SHA256, SignerKeyID: info.SignerKeyID,
		InputShape: info.Input, LoadedAt: info.LoadedAt, Placeholder: info.Placeholder}
}

// uploadError is a failure to read an upload, with its response.
type uploadError struct {
	status  int
	code    string
	message string
}

func (e *uploadError) Error() string { return e.message }

// handlePredict classifies an uploaded image. The upload is a multipart
// form with the image in field "file"; when raw is set (the /api/v1
// route), it may also be the request body itself, with an image
// Content-Type.
func handlePredict(s *server, raw bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		// The model is picked once: a reload during the request does not
		// change the model that answers it.
		m, ok := s.pick(w, r)
		if !ok {
			return
		}
		info := m.c.Info()
		status := http.StatusInternalServerError // what a panic leaves
		defer func() { s.metrics.countInference(s.modelLabel(m), status) }()
		fail := func(ue *uploadError) {
			status = ue.status
			errorJSON(w, ue.status, ue.code, ue.message, info.Warning)
		}

		img, release, st, ok := s.admitUpload(w, r, start, info, 1, raw)
		if !ok {
			status = st
			return
		}
		defer release()
		it := inferItem{img: img}
		payload, sum := digest(it)
		addLogAttrs(r.Context(), "image_bytes", len(img), "image_sha256", hex.EncodeToString(sum[:]))
		res, ue := s.classifyItem(r.Context(), w.Header(), start, m, it, payload, sum)
		if res.Image.Format != "" {
			addLogAttrs(r.Context(), "image_format", res.Image.Format, "image_width", res.Image.Width, "image_height", res.Image.Height)
		}
		if ue != nil {
			fail(ue)
			return
		}
		addLogAttrs(r.Context(), "probability", res.Probability)
		status = http.StatusOK
		encode(w, http.StatusOK, predictResponse{
			verdict:   s.verdict(res.Verdict),
			Model:     m.ref(),
			Image:     res.Image,
			ElapsedMS: float64(time.Since(start).Microseconds()) / 1000,
			Warning:   info.Warning,
		})
	})
}

// admitUpload admits a prediction request that costs cost predictions
// and reads its upload: the per-client limits first (a client over them
// costs neither a pending place nor the reading of its upload), then the
// pending bound (so that a flood of uploads is refused instead of held in
// memory), then the upload itself, raw as readUpload takes it. When it
// cannot, it has answered, audited a failed read, and returns ok false
// and the status it answered; else the caller calls release when done.
func (s *server) admitUpload(w http.ResponseWriter, r *http.Request, start time.Time, info classifier.ModelInfo,
	cost int, raw bool) (img []byte, release func(), status int, ok bool) {
	fail := func(ue *uploadError) ([]byte, func(), int, bool) {
		errorJSON(w, ue.status, ue.code, ue.message, info.Warning)
		return nil, nil, ue.status, false
	}
	if ue := s.admitClient(r.Context(), w.Header(), cost); ue != nil {
		return fail(ue)
	}
	release, ue := s.admit(w, r)
	if ue != nil {
		return fail(ue)
	}
	img, err := s.readUpload(w, r, raw)
	s.observeStage(r.Context(), stageRead, start, time.Now())
	if err != nil {
		release()
		ue, ok := errors.AsType[*uploadError](err)
		if !ok {
			ue = bodyError(err, nil)
		}
		addLogAttrs(r.Context(), "upload_error", ue.message)
		s.auditPrediction(r.Context(), start, info, 0, nil, classifier.Result{}, ue.status, ue.code, cost)
		return fail(ue)
	}
	return img, release, 0, true
}

// readUpload reads the image of a request into memory. It never uses
// ParseMultipartForm or FormFile, which spill large files to disk.
func (s *server) readUpload(w http.ResponseWriter, r *http.Request, raw bool) ([]byte, error) {
	max := s.cfg.MaxUpload
	tooLarge := &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
		fmt.Sprintf("the upload is larger than the limit of %d bytes", max)}
	ct := r.Header.Get("Content-Type")
	mediaType, _, err := mime.ParseMediaType(ct)
	if ct == "" || err != nil {
		return nil, &uploadError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, s.uploadHint(raw)}
	}
	switch {
	case mediaType == "multipart/form-data":
		if r.ContentLength > max+multipartOverhead {
			return nil, tooLarge
		}
		r.Body = http.MaxBytesReader(w, r.Body, max+multipartOverhead)
		return readMultipartFile(r, max, tooLarge)
	case raw && (strings.HasPrefix(mediaType, "image/") || mediaType == "application/octet-stream"):
		if r.ContentLength > max {
			return nil, tooLarge
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, bodyError(err, tooLarge)
		}
		return b, nil
	default:
		return nil, &uploadError{http.StatusUnsupportedMediaType, codeUnsupportedMedia, s.uploadHint(raw)}
	}
}

func (s *server) uploadHint(raw bool) string {
	if raw {
		return "send the image as multipart/form-data in field \"file\", or as the body with Content-Type image/png, image/jpeg or image/gif"
	}
	return "send the image as multipart/form-data in field \"file\""
}

// maxParts bounds the multipart parts skipped before the "file" field.
const maxParts = 16

// readMultipartFile reads the part named "file" of a multipart body into
// memory, refusing more than max bytes.
func readMultipartFile(r *http.Request, max int64, tooLarge *uploadError) ([]byte, error) {
	mr, err := r.MultipartReader()
	if err != nil {
		return nil, &uploadError{http.StatusBadRequest, codeBadRequest, "malformed multipart request: " + err.Error()}
	}
	for range maxParts {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, bodyError(err, tooLarge)
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		b, err := io.ReadAll(io.LimitReader(part, max+1))
		part.Close()
		if err != nil {
			return nil, bodyError(err, tooLarge)
		}
		if int64(len(b)) > max {
			return nil, tooLarge
		}
		return b, nil
	}
	return nil, &uploadError{http.StatusBadRequest, codeMissingFile, "the form has no field \"file\" with the image"}
}

// bodyError maps an error met while reading a request body to its
// response: tooLarge past the size limit, 408 when the read timeout cut a
// slow upload, 400 when the client went away or the multipart encoding is
// broken. Network errors are not quoted to the client: they name the
// server's addresses.
func bodyError(err error, tooLarge *uploadError) *uploadError {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok && tooLarge != nil {
		return tooLarge
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		if ne.Timeout() {
			return &uploadError{http.StatusRequestTimeout, codeUploadTimeout, "the upload was not received in time"}
		}
		return &uploadError{http.StatusBadRequest, codeBadRequest, "the upload was cut off before it was complete"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) {
		return &uploadError{http.StatusBadRequest, codeBadRequest, "the upload was cut off before it was complete"}
	}
	return &uploadError{http.StatusBadRequest, codeBadRequest, "malformed multipart request: " + err.Error()}
}

// admitPending takes one of the MaxPending places of prediction requests
// being read, queued or classified, before the request's body is read. When
// none is free it counts the rejection and marks the connection to close
// in hdr (the unread body is not drained), and the caller answers 503.
func (s *server) admitPending(hdr http.Header) (release func(), ok bool) {
	select {
	case s.pending <- struct{}{}:
		return func() { <-s.pending }, true
	default:
		s.metrics.rejected.WithLabelValues("pending").Inc()
		hdr.Set("Connection", "close")
		return nil, false
	}
}
