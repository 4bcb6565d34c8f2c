package server

import (
	"cmp"
	"context"
	"crypto/sha256"
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

	"github.com/huskyai/huskyai/audit"
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
	// Version is the version of a Repository's model (then Name is the
	// repository's name for it); singleVersion for a single model.
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
		c, info := m.c, m.c.Info()
		// What the audit record says; a panic leaves 500.
		var (
			img          []byte
			sum          [32]byte
			res          classifier.Result
			err          error
			status, code = http.StatusInternalServerError, codeInternal
		)
		defer func() { s.metrics.countInference(cmp.Or(m.name, info.Name), status) }()
		fail := func(st int, c, msg string) {
			status, code = st, c
			errorJSON(w, st, c, msg, info.Warning)
		}

		// Per-client limits come first: a client over them costs neither
		// a pending place nor the reading of its upload.
		if !s.admitClient(w, r, info.Warning) {
			status = http.StatusTooManyRequests
			return
		}
		// Admit the request before reading its body, so that a flood of
		// uploads is refused instead of held in memory.
		releasePending, ok := s.admitPending(w)
		if !ok {
			fail(http.StatusServiceUnavailable, codeBusy, "the server is busy with other uploads; try again in a moment")
			return
		}
		defer releasePending()
		defer func() { s.auditPrediction(r, start, info, img, sum, res, status, code) }()

		img, err = s.readUpload(w, r, raw)
		s.observeStage(r.Context(), stageRead, start, time.Now())
		if err != nil {
			ue, ok := errors.AsType[*uploadError](err)
			if !ok {
				ue = bodyError(err, nil)
			}
			addLogAttrs(r.Context(), "upload_error", ue.message)
			fail(ue.status, ue.code, ue.message)
			return
		}
		sum = sha256.Sum256(img)
		addLogAttrs(r.Context(), "image_bytes", len(img), "image_sha256", hex.EncodeToString(sum[:]))

		// Refuse what is not an image before waiting for a slot.
		if _, ok := imageprep.Sniff(img); !ok {
			fail(http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the file is not a PNG, JPEG or GIF image")
			return
		}
		release, err := s.acquire(r.Context())
		if err != nil {
			s.metrics.rejected.WithLabelValues("busy").Inc()
			fail(http.StatusServiceUnavailable, codeBusy, "the server is busy classifying other images; try again in a moment")
			return
		}
		res, err = func() (classifier.Result, error) {
			if bc, ok := s.batchFor(c); ok {
				return s.batched(bc, release, func() (classifier.Prepared, error) { return bc.Prepare(img) })
			}
			defer release() // even if Classify panics
			return c.Classify(img)
		}()
		s.observeClassify(r.Context(), time.Now(), res.Timings)
		if res.Image.Format != "" {
			addLogAttrs(r.Context(), "image_format", res.Image.Format, "image_width", res.Image.Width, "image_height", res.Image.Height)
		}
		if err != nil {
			status, code, msg := classifyError(err)
			if status == http.StatusInternalServerError {
				s.logger.ErrorContext(r.Context(), "classification failed", "request_id", requestIDOf(r.Context()), "err", err)
			}
			fail(status, code, msg)
			return
		}
		if block, msg := s.checkProbing(w, r, sum, res.PHash); block {
			fail(http.StatusTooManyRequests, codeProbing, msg)
			return
		}
		addLogAttrs(r.Context(), "probability", res.Probability)
		status, code = http.StatusOK, ""
		encode(w, http.StatusOK, predictResponse{
			verdict:   s.verdict(res.Verdict),
			Model:     m.ref(),
			Image:     res.Image,
			ElapsedMS: float64(time.Since(start).Microseconds()) / 1000,
			Warning:   info.Warning,
		})
	})
}

// auditPrediction records the outcome of a prediction request whose
// upload was read or refused: never the image, only its hash and size.
func (s *server) auditPrediction(r *http.Request, start time.Time, info classifier.ModelInfo,
	img []byte, sum [32]byte, res classifier.Result, status int, code string) {
	if s.cfg.Audit == nil {
		return
	}
	ev := audit.Prediction{
		RequestID:   requestIDOf(r.Context()),
		ClientAddr:  r.RemoteAddr,
		Probing:     clientOf(r.Context()).probing,
		ImageBytes:  len(img),
		Format:      res.Image.Format,
		Width:       res.Image.Width,
		Height:      res.Image.Height,
		ModelSHA256: info.SHA256,
		LatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
		Status:      status,
		ErrorCode:   code,
	}
	if cl := clientOf(r.Context()); cl.Forwarded {
		ev.ForwardedFor = cl.String()
	}
	if img != nil {
		ev.ImageSHA256 = hex.EncodeToString(sum[:])
	}
	if status == http.StatusOK {
		ev.Probability = &res.Probability
	}
	if err := s.cfg.Audit.Record(r.Context(), ev); err != nil {
		s.logger.ErrorContext(r.Context(), "audit record failed", "request_id", ev.RequestID, "err", err)
	}
}

// classifyError maps a Classify error to a response.
func classifyError(err error) (status int, code, message string) {
	var ie *imageprep.Error
	if errors.As(err, &ie) {
		switch ie.Kind {
		case imageprep.Unsupported:
			return http.StatusUnsupportedMediaType, codeUnsupportedMedia, "the file is not a PNG, JPEG or GIF image"
		case imageprep.TooLarge:
			return http.StatusUnprocessableEntity, codeImageTooLarge,
				fmt.Sprintf("the image is %dx%d pixels, more than this server accepts", ie.Width, ie.Height)
		default:
			return http.StatusUnprocessableEntity, codeUndecodable, "the " + ie.Format + " image is damaged or cannot be decoded"
		}
	}
	if errors.Is(err, classifier.ErrModel) {
		return http.StatusInternalServerError, codeInternal, "the model failed on this image"
	}
	return http.StatusInternalServerError, codeInternal, "internal error"
}

// acquire takes an inference slot, waiting at most the queue timeout. The
// returned func gives it back.
func (s *server) acquire(ctx context.Context) (release func(), err error) {
	t := time.Now()
	defer func() { s.observeStage(ctx, stageQueue, t, time.Now()) }()
	release = func() {
		s.metrics.inference.Dec()
		<-s.sem
	}
	select {
	case s.sem <- struct{}{}:
		s.metrics.inference.Inc()
		return release, nil
	default:
	}
	timer := time.NewTimer(s.cfg.QueueTimeout)
	defer timer.Stop()
	select {
	case s.sem <- struct{}{}:
		s.metrics.inference.Inc()
		return release, nil
	case <-timer.C:
		return nil, errors.New("queue timeout")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
// (the unread body is not drained), and the caller answers 503.
func (s *server) admitPending(w http.ResponseWriter) (release func(), ok bool) {
	select {
	case s.pending <- struct{}{}:
		return func() { <-s.pending }, true
	default:
		s.metrics.rejected.WithLabelValues("pending").Inc()
		w.Header().Set("Connection", "close")
		return nil, false
	}
}
