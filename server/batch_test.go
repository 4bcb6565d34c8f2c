package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huskyai/huskyai"
	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/imageprep"
	"github.com/huskyai/huskyai/modelstore"
)

// tagModel is a batchModel whose probability for an image is the
// image's first value, so that a test can see where each result went. It
// records the size of each batch and panics on a batch holding a value
// of panicOn.
type tagModel struct {
	mu      sync.Mutex
	sizes   []int
	panicOn float32
	hold    chan struct{} // if not nil, each batch waits for it
}

func (m *tagModel) Prepare(img []byte) (classifier.Prepared, error) {
	return classifier.Prepared{X: []float32{float32(img[0]) / 100}}, nil
}

func (m *tagModel) InferBatch(ps []classifier.Prepared) ([]classifier.Result, error) {
	m.mu.Lock()
	m.sizes = append(m.sizes, len(ps))
	m.mu.Unlock()
	if m.hold != nil {
		<-m.hold
	}
	rs := make([]classifier.Result, len(ps))
	for i, p := range ps {
		if m.panicOn != 0 && p.X[0] == m.panicOn {
			panic("boom")
		}
		rs[i].Verdict = huskyai.NewVerdict(p.X[0], 2)
		rs[i].Timings.Batch = len(ps)
	}
	return rs, nil
}

func (m *tagModel) batchSizes() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]int(nil), m.sizes...)
}

func runDirect(c batchModel, ps []classifier.Prepared) ([]classifier.Result, error) {
	return c.InferBatch(ps)
}

// submitAll announces n requests, then submits them from n goroutines, the
// i-th with tag i+1, and returns their results by tag.
func submitAll(b *batcher, c *tagModel, n int, tag0 int) ([]float32, []error) {
	probs, errs := make([]float32, n), make([]error, n)
	for range n {
		b.expect()
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			p, _ := c.Prepare([]byte{byte(tag0 + i)})
			r, err := b.submit(c, p, true)
			probs[i], errs[i] = r.Probability, err
		})
	}
	wg.Wait()
	return probs, errs
}

func TestBatcherCoalesces(t *testing.T) {
	m := &tagModel{}
	b := newBatcher(4, time.Second, runDirect, nil)
	probs, errs := submitAll(b, m, 10, 1)
	for i := range probs {
		if errs[i] != nil || probs[i] != float32(i+1)/100 {
			t.Errorf("request %d: %g, %v; want its own %g", i, probs[i], errs[i], float32(i+1)/100)
		}
	}
	sizes, total := m.batchSizes(), 0
	for _, s := range sizes {
		total += s
		if s < 1 || s > 4 {
			t.Errorf("a batch of %d, want 1..4", s)
		}
	}
	// All ten were announced before any arrived: every batch but the
	// last waits until it is full.
	if total != 10 || len(sizes) != 3 || sizes[0] != 4 || sizes[1] != 4 {
		t.Errorf("batch sizes %v, want [4 4 2]", sizes)
	}
	b.mu.Lock()
	if b.coming != 0 || len(b.queue) != 0 {
		t.Errorf("after the batches: %d coming, %d queued", b.coming, len(b.queue))
	}
	b.mu.Unlock()
}

func TestBatcherDelay(t *testing.T) {
	m := &tagModel{}
	const delay = 60 * time.Millisecond
	b := newBatcher(4, delay, runDirect, nil)
	// Nothing else is being prepared: no wait at all.
	start := time.Now()
	if r, err := b.submit(m, classifier.Prepared{X: []float32{0.5}}, false); err != nil || r.Probability != 0.5 {
		t.Fatalf("submit = %v, %v", r.Probability, err)
	}
	if d := time.Since(start); d >= delay {
		t.Errorf("a lone request waited %v, want no wait", d)
	}
	// Another request is announced but never comes: the batch waits for
	// it, but no longer than the delay.
	b.expect()
	start = time.Now()
	if _, err := b.submit(m, classifier.Prepared{X: []float32{0.25}}, false); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < delay-5*time.Millisecond || d > delay+time.Second {
		t.Errorf("with a request announced, the batch ran after %v, want about %v", d, delay)
	}
	b.cancel()
	// A withdrawn announcement ends the wait at once.
	b.expect()
	go func() {
		time.Sleep(10 * time.Millisecond)
		b.cancel()
	}()
	start = time.Now()
	b.submit(m, classifier.Prepared{X: []float32{0.25}}, false)
	if d := time.Since(start); d >= delay {
		t.Errorf("after cancel, the batch still waited %v", d)
	}
	if got := m.batchSizes(); len(got) != 3 {
		t.Errorf("batch sizes %v, want three batches of 1", got)
	}
}

// TestBatcherBusyCoalesces shows batches forming without any delay while
// the engine is busy: requests that arrive during a run go together into
// the next one.
func TestBatcherBusyCoalesces(t *testing.T) {
	m := &tagModel{hold: make(chan struct{})}
	b := newBatcher(8, time.Nanosecond, runDirect, nil)
	done := make(chan struct{})
	go func() {
		b.submit(m, classifier.Prepared{X: []float32{0.01}}, false)
		close(done)
	}()
	for len(m.batchSizes()) == 0 {
		time.Sleep(time.Millisecond)
	}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() { b.submit(m, classifier.Prepared{X: []float32{float32(i+2) / 100}}, false) })
	}
	for {
		b.mu.Lock()
		n := len(b.queue)
		b.mu.Unlock()
		if n == 5 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(m.hold)
	wg.Wait()
	<-done
	if got := m.batchSizes(); len(got) != 2 || got[1] != 5 {
		t.Errorf("batch sizes %v, want [1 5]", got)
	}
}

func TestBatcherPanic(t *testing.T) {
	bad := &tagModel{panicOn: 0.03}
	good := &tagModel{}
	var panics []any
	var mu sync.Mutex
	b := newBatcher(8, time.Second, runDirect, func(v any, stack []byte) {
		mu.Lock()
		panics = append(panics, v)
		mu.Unlock()
		if len(stack) == 0 {
			t.Error("no stack")
		}
	})
	var wg sync.WaitGroup
	var badErrs, goodErrs []error
	for range 6 {
		b.expect()
	}
	for i := range 3 {
		wg.Go(func() {
			p, _ := bad.Prepare([]byte{byte(i + 2)})
			_, err := b.submit(bad, p, true)
			mu.Lock()
			badErrs = append(badErrs, err)
			mu.Unlock()
		})
		wg.Go(func() {
			p, _ := good.Prepare([]byte{byte(i + 2)})
			r, err := b.submit(good, p, true)
			if err == nil && r.Probability != float32(i+2)/100 {
				err = errors.New("wrong result")
			}
			mu.Lock()
			goodErrs = append(goodErrs, err)
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, err := range badErrs {
		if !errors.Is(err, classifier.ErrModel) {
			t.Errorf("request in the panicking batch: %v, want ErrModel", err)
		}
	}
	for _, err := range goodErrs {
		if err != nil {
			t.Errorf("request of the other model: %v", err)
		}
	}
	if len(panics) != 1 {
		t.Errorf("%d panics reported, want 1", len(panics))
	}
	// Batches of different models never mix, and the batcher goes on.
	for _, s := range append(bad.batchSizes(), good.batchSizes()...) {
		if s > 3 {
			t.Errorf("a batch of %d mixes models", s)
		}
	}
	if r, err := b.submit(good, classifier.Prepared{X: []float32{0.07}}, false); err != nil || r.Probability != 0.07 {
		t.Errorf("after the panic: %v, %v", r.Probability, err)
	}
}

// batchFake is a fake whose classification splits into Prepare and
// InferBatch, which can be made to panic.
type batchFake struct {
	*fake
	panicky bool
}

func (f *batchFake) Prepare(img []byte) (classifier.Prepared, error) {
	return classifier.Prepared{X: []float32{0.9}, Image: imageprep.Info{Format: "png"}}, nil
}

func (f *batchFake) InferBatch(ps []classifier.Prepared) ([]classifier.Result, error) {
	if f.panicky {
		panic("boom in batch")
	}
	return (&tagModel{}).InferBatch(ps)
}

func (f *batchFake) Current() Classifier { return f }

func (f *batchFake) Lookup(name, version string) (Classifier, string, string, bool) {
	return modelstore.Fixed(f).Lookup(name, version)
}
func (f *batchFake) List() []huskyai.ModelVersions { return modelstore.Fixed(f).List() }
func (f *batchFake) DefaultModel() string          { return modelstore.Fixed(f).DefaultModel() }
func (f *batchFake) Status() huskyai.ModelStatus   { return huskyai.ModelStatus{} }

// TestServerBatches sends concurrent predictions of different images to a
// server batching up to 4 of them and requires each answer to equal the
// classifier's own for that image, the batches to be real in /metrics and
// no inference slot left taken.
func TestServerBatches(t *testing.T) {
	opt := classifier.DefaultOptions()
	opt.Model = []engine.Option{engine.WithMaxBatch(4)}
	c, err := classifier.LoadDefault(opt)
	if err != nil {
		t.Fatal(err)
	}
	h := NewServer(nil, modelstore.Fixed(c), Config{BatchMax: 4, BatchDelay: 20 * time.Millisecond, MaxPending: 64})
	const n = 24
	var imgs [][]byte
	want := make([]float64, n)
	for i := range n {
		img := encodeImage(t, "png", 20+i, 30+2*i)
		imgs = append(imgs, img)
		r, err := c.Classify(img)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = float64(r.Probability)
	}
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(imgs[i]))
			req.Header.Set("Content-Type", "image/png")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var resp struct{ Probability float64 }
			if err := json.Unmarshal(rec.Body.Bytes(), &resp); rec.Code != 200 || err != nil {
				t.Errorf("image %d: %d %s", i, rec.Code, rec.Body)
				return
			}
			if d := resp.Probability - want[i]; d > 1e-6 || d < -1e-6 {
				t.Errorf("image %d: probability %g, Classify %g", i, resp.Probability, want[i])
			}
		})
	}
	wg.Wait()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	count, sum := metricValue(t, rec.Body.String(), "huskyai_inference_batch_size_count"), metricValue(t, rec.Body.String(), "huskyai_inference_batch_size_sum")
	if sum != n || count >= n || count < n/4 {
		t.Errorf("batch sizes: %g images in %g runs; want %d images in fewer runs, each of at most 4", sum, count, n)
	}
	if !strings.Contains(rec.Body.String(), "huskyai_inference_in_flight 0") {
		t.Error("an inference slot is still taken")
	}
}

func metricValue(t *testing.T, text, name string) float64 {
	t.Helper()
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestServerBatchPanic: a panic in a batch answers 500 to its requests,
// frees the slot and leaves the server serving.
func TestServerBatchPanic(t *testing.T) {
	var logs syncBuffer
	f := &batchFake{fake: &fake{info: trainedInfo}, panicky: true}
	h := NewServer(slog.New(slog.NewTextHandler(&logs, nil)), f, Config{MaxInflight: 1, QueueTimeout: 100 * time.Millisecond, BatchMax: 4})
	img := encodeImage(t, "png", 8, 8)
	for _, want := range []int{500, 500, 200} {
		if want == 200 {
			f.panicky = false
		}
		req := httptest.NewRequest("POST", "/api/v1/predict", bytes.NewReader(img))
		req.Header.Set("Content-Type", "image/png")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Fatalf("status %d, want %d: %s", rec.Code, want, rec.Body)
		}
	}
	if !strings.Contains(logs.String(), "panic in an inference batch") || !strings.Contains(logs.String(), "stack=") {
		t.Errorf("no panic log with its stack:\n%s", logs.String())
	}
}

// TestServerBatchesV2 sends the same v2 requests, FP32 tensors and
// encoded images, several at once to a batching server and requires the
// probabilities of a server that does not batch.
func TestServerBatchesV2(t *testing.T) {
	c, err := v2Model()
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewServer(NewServer(nil, modelstore.Fixed(c), Config{MaxUpload: 1 << 20}))
	defer plain.Close()
	batched := httptest.NewServer(NewServer(nil, modelstore.Fixed(c), Config{MaxUpload: 1 << 20, BatchMax: 4, MaxPending: 32}))
	defer batched.Close()
	png1, png2 := v2Image(t, "png", 128, 128, 1), v2Image(t, "png", 128, 128, 7)
	x := append(v2TestTensor(t, png1), v2TestTensor(t, png2)...)
	bodies := [][]byte{
		mustJSON(t, map[string]any{"inputs": []map[string]any{{"name": "input", "shape": []int{2, 128, 128, 3}, "datatype": "FP32", "data": x}}}),
		mustJSON(t, map[string]any{"inputs": []map[string]any{{"name": "image", "shape": []int{2}, "datatype": "BYTES",
			"data": []string{base64.StdEncoding.EncodeToString(png2), base64.StdEncoding.EncodeToString(v2Image(t, "jpeg", 300, 200, 5))}}}}),
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	for i, body := range bodies {
		res, out := do(t, "POST", plain.URL+"/v2/models/huskyai/infer", hdr, body)
		want := v2Probabilities(t, res, out, 2)
		var wg sync.WaitGroup
		for range 6 {
			wg.Go(func() {
				res, out := do(t, "POST", batched.URL+"/v2/models/huskyai/infer", hdr, body)
				if res.StatusCode != 200 {
					t.Errorf("request %d: %s %s", i, res.Status, out)
					return
				}
				// Equal but for the order of the sums in the dense
				// layers (see engine.Model.PredictBatchTo).
				got := v2Probabilities(t, res, out, 2)
				if len(got) != 2 || math.Abs(got[0]-want[0]) > 1e-6 || math.Abs(got[1]-want[1]) > 1e-6 {
					t.Errorf("request %d: batched %v, unbatched %v", i, got, want)
				}
			})
		}
		wg.Wait()
	}
}
