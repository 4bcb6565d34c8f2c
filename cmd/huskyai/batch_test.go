package main

import (
	"regexp"
	"strconv"
	"sync"
	"testing"
)

// TestServeBatching runs a server with --batch-max 4 (from the
// environment) and one without, sends both the same images, the batched
// one many at once, and requires the same probabilities from both and
// batches of more than one image in the batched server's /metrics.
func TestServeBatching(t *testing.T) {
	plain := startServe(t, nil, "--insecure-http", "--rate-limit", "0")
	batched := startServe(t, map[string]string{"HUSKYAI_BATCH_MAX": "4", "HUSKYAI_BATCH_DELAY": "20ms"},
		"--insecure-http", "--rate-limit", "0", "--max-pending", "64")
	const n = 16
	imgs := make([][]byte, n)
	want := make([]float64, n)
	for i := range imgs {
		imgs[i] = testPNG(t, 30+7*i, 20+5*i)
		st, _, m := plain.do(t, "POST", "/api/v1/predict", "image/png", imgs[i])
		p, ok := m["probability"].(float64)
		if st != 200 || !ok {
			t.Fatalf("unbatched image %d: %d %v", i, st, m)
		}
		want[i] = p
	}
	for round := range 3 {
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				st, _, m := batched.do(t, "POST", "/api/v1/predict", "image/png", imgs[i])
				p, ok := m["probability"].(float64)
				if st != 200 || !ok {
					t.Errorf("batched image %d: %d %v", i, st, m)
					return
				}
				if d := p - want[i]; d > 1e-6 || d < -1e-6 {
					t.Errorf("round %d image %d: batched %g, unbatched %g", round, i, p, want[i])
				}
			})
		}
		wg.Wait()
	}
	metrics := batched.metrics(t)
	count, sum := metricOf(t, metrics, "huskyai_inference_batch_size_count"), metricOf(t, metrics, "huskyai_inference_batch_size_sum")
	le1 := metricOf(t, metrics, `huskyai_inference_batch_size_bucket{le="1"}`)
	le4 := metricOf(t, metrics, `huskyai_inference_batch_size_bucket{le="4"}`)
	if sum != 3*n || count >= sum || le1 == count || le4 != count {
		t.Errorf("batched server ran %g images in %g runs (%g of one image, %g of at most 4); want batches of 2 to 4", sum, count, le1, le4)
	}
	if pm := plain.metrics(t); metricOf(t, pm, "huskyai_inference_batch_size_count") != metricOf(t, pm, `huskyai_inference_batch_size_bucket{le="1"}`) {
		t.Error("the unbatched server ran batches")
	}
	for _, args := range [][]string{{"--batch-max", "0"}, {"--batch-max", "65"}, {"--batch-delay", "0s"}, {"--batch-delay", "2s"}} {
		if _, _, err := runCmd(t, append([]string{"serve"}, args...)...); err == nil {
			t.Errorf("serve %v: no error", args)
		}
	}
}

func metricOf(t *testing.T, text, name string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no metric %s in:\n%s", name, text)
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
