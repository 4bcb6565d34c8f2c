package server

// What the ecosystem protocols (kserve.go, tfserving.go) share: their
// limits, tensor names, and infer, which reads a protocol request and runs
// each of its items through the one prediction pipeline (pipeline.go)
// under the same limits, admission, rate limit, probing detection,
// metrics and audit as POST /api/v1/predict. Errors are
// {"error":"message"}.

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/classifier"
)

// Names of the protocols' model and tensors.
const (
	inputTensor = "input"       // FP32 [N,H,W,C], values in [0,1]
	inputImage  = "image"       // BYTES [N]: encoded PNG, JPEG or GIF
	outputProb  = "probability" // FP32 [N,1]
)

// Limits of protocol requests.
const (
	// maxInferBatch bounds the images or tensors of one request.
	maxInferBatch = 8
	// jsonBytesPerValue is the most JSON text one FP32 value may take in
	// a request ("0.50196078431372548," and spaces).
	jsonBytesPerValue = 24
	// protocolOverhead is the room in a request body beyond its images or
	// tensors: names, shapes, parameters.
	protocolOverhead = 64 << 10
)

// badRequest is a 400 with a formatted message.
func badRequest(format string, args ...any) *uploadError {
	return &uploadError{http.StatusBadRequest, codeBadRequest, fmt.Sprintf(format, args...)}
}

// inferBodyLimit is the largest body of a protocol request to a model of
// info: an image of MaxUpload bytes as base64, or maxInferBatch tensors
// in JSON, whichever is larger. The images of one request share it, so
// that an admitted request holds about as much memory as one upload.
func (s *server) inferBodyLimit(info classifier.ModelInfo) int64 {
	tensors := int64(maxInferBatch) * int64(info.Input[0]*info.Input[1]*info.Input[2]) * jsonBytesPerValue
	return max(s.cfg.MaxUpload/3*4+4, tensors) + protocolOverhead
}

// infer serves a protocol request for model m as handlePredict serves
// one upload: per-client admission, the pending bound, the body read
// within its limit and parsed by parse, more rate-limit tokens for the
// items past the first, then each item through classifyItem. It answers
// errors itself (in the protocols' form) and returns the probabilities
// in order, and true, on success.
func (s *server) infer(w http.ResponseWriter, r *http.Request, m servedModel,
	parse func(body []byte) ([]inferItem, *uploadError)) (probs []float32, ok bool) {
	probs, _, ok = s.inferOrExplain(w, r, m, nil, parse)
	return probs, ok
}

// inferOrExplain is infer, or with ex not nil the explanation of each item
// (explainItem), each costing ex's inferences to the rate limit; it then
// returns the explanations too.
func (s *server) inferOrExplain(w http.ResponseWriter, r *http.Request, m servedModel, ex *explainRequest,
	parse func(body []byte) ([]inferItem, *uploadError)) (probs []float32, exs []explanation, ok bool) {
	probs, exs, ue := s.runItems(r.Context(), w.Header(), m, ex, s.admitRequest, func() ([]inferItem, *uploadError) {
		s.guardUpload(w, r)
		return s.readItems(w, r, m.c.Info(), parse)
	})
	if ue != nil {
		errorJSON(w, ue.status, ue.code, ue.message, "")
		return nil, nil, false
	}
	return probs, exs, true
}

// admitFunc admits a request that costs cost predictions before it is
// read, or returns the refusal to answer; release gives its places back.
type admitFunc func(ctx context.Context, hdr http.Header, cost int) (release func(), ue *uploadError)

// admitRequest is the admission of an HTTP request before its body is
// read: the per-client defences (admitClient), then the pending places
// (admitPlaces).
func (s *server) admitRequest(ctx context.Context, hdr http.Header, cost int) (release func(), ue *uploadError) {
	if ue := s.admitClient(ctx, hdr, cost); ue != nil {
		return nil, ue
	}
	release, ue = s.admitPlaces(ctx, hdr)
	if ue != nil {
		addLogAttrs(ctx, "infer_error", ue.message)
	}
	return release, ue
}

// runItems is the part of a protocol request that does not depend on its
// protocol (HTTP here, gRPC in kserve_grpc.go): admission by admit, the
// request's items read by read, more rate-limit tokens for the items past
// the first, then each item through classifyItem (or, with ex,
// explainItem). It counts the request in the inference metrics and
// returns the probabilities (and explanations) in order, or the error to
// answer. ctx and hdr are the request's, as the pipeline takes them.
func (s *server) runItems(ctx context.Context, hdr http.Header, m servedModel, ex *explainRequest,
	admit admitFunc, read func() ([]inferItem, *uploadError)) (probs []float32, exs []explanation, ue *uploadError) {
	start := time.Now()
	cost := 1
	if ex != nil {
		cost = ex.opt.Inferences()
	}
	status := http.StatusInternalServerError
	defer func() { s.metrics.countInference(s.modelLabel(m), status) }()
	refused := func(ue *uploadError) ([]float32, []explanation, *uploadError) {
		status = ue.status
		return nil, nil, ue
	}
	fail := func(ue *uploadError) ([]float32, []explanation, *uploadError) {
		addLogAttrs(ctx, "infer_error", ue.message)
		return refused(ue)
	}
	release, ue := admit(ctx, hdr, cost)
	if ue != nil {
		return refused(ue)
	}
	defer release()

	items, ue := read()
	s.observeStage(ctx, stageRead, start, time.Now())
	if ue != nil {
		return fail(ue)
	}
	if ue := s.admitMore(ctx, hdr, (len(items)-1)*cost); ue != nil {
		return refused(ue)
	}
	probs = make([]float32, len(items))
	for i, it := range items {
		var res classifier.Result
		var ue *uploadError
		if ex != nil {
			var e explanation
			res, e, ue = s.explainItem(ctx, hdr, start, m, it, *ex)
			exs = append(exs, e)
		} else {
			payload, sum := digest(it)
			res, ue = s.classifyItem(ctx, hdr, start, m, it, payload, sum)
		}
		if ue != nil {
			if len(items) > 1 {
				ue.message = fmt.Sprintf("item %d: %s", i, ue.message)
			}
			return fail(ue)
		}
		probs[i] = s.labelOnly(res.Probability)
	}
	addLogAttrs(ctx, "items", len(items))
	status = http.StatusOK
	return probs, exs, nil
}

// labelOnly is the probability p as a protocol answers it: p, or with
// Config.LabelOnly the label only, 1 husky and 0 not.
func (s *server) labelOnly(p float32) float32 {
	if !s.cfg.LabelOnly {
		return p
	}
	if p > huskyai.Threshold {
		return 1
	}
	return 0
}

// readItems reads a protocol request's body within its limit
// (inferBodyLimit) and parses its items with parse.
func (s *server) readItems(w http.ResponseWriter, r *http.Request, info classifier.ModelInfo,
	parse func(body []byte) ([]inferItem, *uploadError)) ([]inferItem, *uploadError) {
	limit := s.inferBodyLimit(info)
	tooLarge := &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
		fmt.Sprintf("the request is larger than the limit of %d bytes", limit)}
	if r.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(err, tooLarge)
	}
	return parse(body)
}

// admitMore takes n more tokens of the client's rate limit, for the items
// of a request past its first. It returns the 429 refusal (refusal) when
// the client runs out, else nil.
func (s *server) admitMore(ctx context.Context, hdr http.Header, n int) *uploadError {
	if s.limiter == nil || n <= 0 {
		return nil
	}
	ok, wait := s.limiter.ReserveN(abuse.Key(clientOf(ctx).Addr), time.Now(), n)
	if ok {
		return nil
	}
	s.metrics.rateLimited.Inc()
	return s.refusal(ctx, hdr, wait, codeRateLimited, fmt.Sprintf(
		"too many predictions from your address: each image or tensor counts, the limit is %g per second, in bursts of up to %d; try again in %s seconds",
		s.limiter.Limit(), s.limiter.Burst(), retryAfterSeconds(wait)))
}

// imageItems makes the items of encoded images, refusing one larger
// than the upload limit.
func (s *server) imageItems(imgs [][]byte) ([]inferItem, *uploadError) {
	items := make([]inferItem, len(imgs))
	for i, img := range imgs {
		if int64(len(img)) > s.cfg.MaxUpload {
			return nil, &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
				fmt.Sprintf("image %d is %d bytes, more than the limit of %d bytes", i, len(img), s.cfg.MaxUpload)}
		}
		items[i].img = img
	}
	return items, nil
}

// decodeBase64 decodes an image sent as base64 (standard or URL
// alphabet, padded or not).
func (s *server) decodeBase64(str string) ([]byte, *uploadError) {
	if int64(base64.StdEncoding.DecodedLen(len(str))) > s.cfg.MaxUpload+3 {
		return nil, &uploadError{http.StatusRequestEntityTooLarge, codeTooLarge,
			fmt.Sprintf("an image is larger than the limit of %d bytes", s.cfg.MaxUpload)}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(str); err == nil {
			return b, nil
		}
	}
	return nil, badRequest("an image is not valid base64")
}
