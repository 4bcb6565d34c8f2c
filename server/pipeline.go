package server

// The one prediction pipeline. Every API that classifies (POST
// /api/v1/predict, the original POST /huskyai/, KServe v2's infer, TF
// Serving's :predict) reads and parses its request its own way, then hands
// each image or tensor to classifyItem, which takes it from bytes to a
// probability under the same slot, batching, probing and audit rules.

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/huskyai/huskyai/audit"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/imageprep"
)

// inferItem is one image or tensor of a request.
type inferItem struct {
	img    []byte    // an encoded image, or
	tensor []float32 // a prepared input tensor, HWC in [0,1]
}

// bytes is what the item's SHA-256 and size in logs and audit records are
// of: the image, or the tensor's values as little-endian float32.
func (it inferItem) bytes() []byte {
	if it.tensor == nil {
		return it.img
	}
	b := make([]byte, 0, 4*len(it.tensor))
	for _, v := range it.tensor {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// classifyItem classifies one item for model m: an image is sniffed before
// it waits; then it takes an inference slot (or answers busy), runs the
// model (in a batch when the server batches), checks the probing
// detector, and writes one audit record of the item whatever the outcome.
// payload and sum are it.bytes() and their SHA-256, which the caller has
// at hand for its log. It returns the result, or the error to answer;
// model failures are logged here.
func (s *server) classifyItem(ctx context.Context, hdr http.Header, start time.Time, m servedModel,
	it inferItem, payload []byte, sum [32]byte) (classifier.Result, *uploadError) {
	return s.pipeline(ctx, hdr, start, m, it, payload, sum, 1, func(release func(), g *decodeGrant) (classifier.Result, error) {
		return s.run(m.c, it, release, g)
	})
}

// pipeline is classifyItem with the model's work given: exec runs under
// the inference slot, which it gives back with release (even if it
// panics), decodes within the memory grant g (reserveDecode), and costs n
// inferences, as the probing detector and the audit
// record count it (an explanation runs the model dozens of times).
//
// ctx is the request's context, whatever its protocol: it carries the
// client (clientOf), the request id and log attributes (addLogAttrs) and
// the trace; hdr takes the response headers the pipeline sets
// (Retry-After), which HTTP answers with and gRPC sends as metadata.
func (s *server) pipeline(ctx context.Context, hdr http.Header, start time.Time, m servedModel,
	it inferItem, payload []byte, sum [32]byte, n int,
	exec func(release func(), g *decodeGrant) (classifier.Result, error)) (classifier.Result, *uploadError) {
	defer s.cfg.Drain.enter()()
	info := m.c.Info()
	var (
		res          classifier.Result
		status, code = http.StatusInternalServerError, codeInternal // what a panic leaves
	)
	audited := false
	defer func() {
		if !audited {
			s.auditPrediction(ctx, start, info, len(payload), &sum, res, status, code, n)
		}
	}()
	fail := func(st int, c, msg string) (classifier.Result, *uploadError) {
		status, code = st, c
		return res, &uploadError{st, c, msg}
	}
	if it.tensor == nil {
		if _, ok := imageprep.Sniff(it.img); !ok {
			return fail(http.StatusUnsupportedMediaType, codeUnsupportedMedia, msgNotAnImage)
		}
	}
	grant, ue := s.reserveDecode(ctx, m.c, it)
	if ue != nil {
		return fail(ue.status, ue.code, ue.message)
	}
	defer grant.release()
	release, err := s.acquire(ctx)
	if err != nil {
		s.metrics.rejected.WithLabelValues("busy").Inc()
		return fail(http.StatusServiceUnavailable, codeBusy, "the server is busy classifying other images; try again in a moment")
	}
	res, err = exec(release, grant)
	s.observeClassify(ctx, time.Now(), res.Timings)
	if err != nil {
		st, c, msg := classifyError(err)
		if st == http.StatusInternalServerError {
			s.logger.ErrorContext(ctx, "classification failed", "request_id", requestIDOf(ctx), "err", err)
		}
		return fail(st, c, msg)
	}
	if block, msg := s.checkProbing(ctx, hdr, sum, res.PHash, n); block {
		return fail(http.StatusTooManyRequests, codeProbing, msg)
	}
	status, code, audited = http.StatusOK, "", true
	if err := s.auditPrediction(ctx, start, info, len(payload), &sum, res, status, code, n); err != nil && s.cfg.AuditRequired {
		return res, &uploadError{http.StatusServiceUnavailable, codeAuditUnavailable,
			"the server cannot record this prediction in its audit log; try again later"}
	}
	return res, nil
}

// run runs model c on it under the inference slot that release gives
// back (even if the model panics) and the decode memory grant g: in a
// batch when the server batches and c can, else on its own.
func (s *server) run(c Classifier, it inferItem, release func(), g *decodeGrant) (classifier.Result, error) {
	var phash uint64
	if it.tensor != nil {
		phash = tensorDHash(it.tensor, c.Info().Input)
	}
	if bc, ok := s.batchFor(c); ok {
		return s.batched(bc, release, func() (classifier.Prepared, error) {
			if it.tensor == nil {
				return prepare(bc, it, g)
			}
			return classifier.Prepared{X: it.tensor, PHash: phash}, nil
		})
	}
	defer release()
	if it.tensor == nil {
		return classifyImage(c, it, g)
	}
	t := time.Now()
	res, err := c.ClassifyTensor(it.tensor, imageprep.Info{})
	res.Timings.Inference = time.Since(t)
	res.PHash = phash
	return res, err
}

// tensorDHash is the perceptual hash of a prepared tensor (HWC in [0,1],
// of shape hwc) for the probing detector: the tensor seen as the picture
// it was made from.
func tensorDHash(x []float32, hwc [3]int) uint64 {
	rgb := imageprep.NewRGB(hwc[1], hwc[0])
	for i, v := range x {
		rgb.Pix[i] = uint8(math.Round(float64(v) * 255))
	}
	return rgb.DHash()
}

// msgNotAnImage is the answer to an upload that is not an image.
const msgNotAnImage = "the file is not a PNG, JPEG or GIF image"

// classifyError maps a Classify error to a response.
func classifyError(err error) (status int, code, message string) {
	if ue, ok := errors.AsType[*uploadError](err); ok { // the decode memory's second step
		return ue.status, ue.code, ue.message
	}
	var ie *imageprep.Error
	if errors.As(err, &ie) {
		switch ie.Kind {
		case imageprep.Unsupported:
			return http.StatusUnsupportedMediaType, codeUnsupportedMedia, msgNotAnImage
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

// auditPrediction records the outcome of a prediction request whose
// upload was read or refused: never the image, only its size and, where
// sum is not nil, its hash. n is the inferences the request cost, above 1
// for an explanation. A failure to record is counted by the audit log
// (huskyai_audit_records_dropped_total), logged at most every
// auditLogEvery, and returned. ctx is the request's (pipeline).
func (s *server) auditPrediction(ctx context.Context, start time.Time, info classifier.ModelInfo,
	size int, sum *[32]byte, res classifier.Result, status int, code string, n int) error {
	if s.cfg.Audit == nil {
		return nil
	}
	cl := clientOf(ctx)
	ev := audit.Prediction{
		RequestID:   requestIDOf(ctx),
		ClientAddr:  cl.Peer,
		Protocol:    cl.Protocol,
		Probing:     cl.probing,
		ImageBytes:  size,
		Format:      res.Image.Format,
		Width:       res.Image.Width,
		Height:      res.Image.Height,
		ModelSHA256: info.SHA256,
		LatencyMS:   float64(time.Since(start).Microseconds()) / 1000,
		Status:      status,
		ErrorCode:   code,
	}
	if n > 1 {
		ev.Inferences = n
	}
	if cl.Forwarded {
		ev.ForwardedFor = cl.String()
	}
	if sum != nil {
		ev.ImageSHA256 = fmt.Sprintf("%x", sum[:])
	}
	if status == http.StatusOK {
		ev.Probability = &res.Probability
	}
	err := s.cfg.Audit.Record(ctx, ev)
	if err != nil && s.auditLogged.allow(time.Now()) {
		s.logger.ErrorContext(ctx, "audit record failed (further failures are logged at most every 10s; see huskyai_audit_records_dropped_total)",
			"request_id", ev.RequestID, "err", err)
	}
	return err
}

// auditLogEvery is how often a failing audit log is reported in the log.
const auditLogEvery = 10 * time.Second

// every allows one event per auditLogEvery.
type every struct{ last atomic.Int64 }

// allow reports whether an event at now may be logged.
func (e *every) allow(now time.Time) bool {
	last := e.last.Load()
	return now.UnixNano()-last >= int64(auditLogEvery) && e.last.CompareAndSwap(last, now.UnixNano())
}

// digest returns an item's payload and its SHA-256.
func digest(it inferItem) ([]byte, [32]byte) {
	b := it.bytes()
	return b, sha256.Sum256(b)
}
