package main

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/huskyai/huskyai/bench/internal/loadgen"
)

// latency is what timeLoop measured: the duration of each call.
type latency struct {
	n               int
	p50, mean, best time.Duration
}

// timeLoop calls f once to warm up, then again and again until budget has
// passed and it ran at least minIters times, and returns the distribution
// of the calls' durations.
func timeLoop(budget time.Duration, minIters int, f func()) latency {
	f()
	var d []time.Duration
	start := time.Now()
	for len(d) < minIters || time.Since(start) < budget {
		t := time.Now()
		f()
		d = append(d, time.Since(t))
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return latency{n: len(d), p50: d[(len(d)-1)/2], mean: sum / time.Duration(len(d)), best: d[0]}
}

// throughput runs f on g goroutines (f(i) is goroutine i's call) for
// budget after one warm-up call each, and returns the calls per second,
// counting calls that finish after the deadline in the elapsed time.
func throughput(g int, budget time.Duration, f func(worker int)) (perSec float64, n int) {
	var wg sync.WaitGroup
	for i := range g {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
	counts := make([]int, g)
	start := time.Now()
	deadline := start.Add(budget)
	for i := range g {
		wg.Go(func() {
			for time.Now().Before(deadline) || counts[i] == 0 {
				f(i)
				counts[i]++
			}
		})
	}
	wg.Wait()
	el := time.Since(start)
	for _, c := range counts {
		n += c
	}
	return float64(n) / el.Seconds(), n
}

func msf(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	ms := float64(d) / 1e6
	switch {
	case ms >= 100:
		return fmt.Sprintf("%.0f ms", ms)
	case ms >= 10:
		return fmt.Sprintf("%.1f ms", ms)
	default:
		return fmt.Sprintf("%.2f ms", ms)
	}
}

func ratio(a, b float64) string {
	if a <= 0 || b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// photos memoizes photo: a 12 MP JPEG takes seconds to make.
var photos = map[[3]int][]byte{}

// photo is loadgen.PhotoJPEG, made once per size and seed.
func photo(w, h int, seed uint32) ([]byte, error) {
	k := [3]int{w, h, int(seed)}
	if b, ok := photos[k]; ok {
		return b, nil
	}
	b, err := loadgen.PhotoJPEG(w, h, seed)
	if err == nil {
		photos[k] = b
	}
	return b, err
}
