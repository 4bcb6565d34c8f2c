package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/huskyai/huskyai/bench/internal/loadgen"
)

// serve is part (c): the real binary, built with this binary's tags, one
// server per engine in turn.
func serve(o *options, tags string, w, stderr io.Writer, sum *summary) error {
	fmt.Fprintln(w, "\n== (c) end to end: huskyai serve on loopback, POST /api/v1/predict, closed-loop clients (bench/internal/loadgen, vegeta) ==")
	img, err := photo(1280, 800, 7)
	if err != nil {
		return err
	}
	big, err := photo(4000, 3000, 3)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "huskyai-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "huskyai")
	// The server gets this binary's GOEXPERIMENT (such as simd) too.
	if exp := buildSetting("GOEXPERIMENT"); exp != "" && os.Getenv("GOEXPERIMENT") == "" {
		os.Setenv("GOEXPERIMENT", exp)
	}
	t := time.Now()
	if err := loadgen.Build(tags, bin, loadgen.PrefixWriter{Prefix: "bench: ", W: stderr}); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "bench: built in %.1f s\n", time.Since(t).Seconds())

	sb := serveBench{o: o, bin: bin, img: img, big: big, stderr: stderr, sum: sum}
	modelDesc := sb.chooseModel()
	scheme := "HTTPS with the self-signed certificate"
	if o.insecureHTTP {
		scheme = "plain HTTP"
	}
	fmt.Fprintf(w, "server: go build -tags %q (GOEXPERIMENT %q), %s, model %s; client and server share the %d CPUs\n",
		tags, os.Getenv("GOEXPERIMENT"), scheme, modelDesc, runtime.NumCPU())

	sb.tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(sb.tw, "engine\timage\tclients\trequests\treq/s\t200/s\tp50 (200)\tp99 (200)\tmean (200)\tstatuses\tserver peak RSS\t")
	for _, engine := range o.serveEngines {
		if err := sb.engine(engine); err != nil {
			return err
		}
	}
	sb.tw.Flush()
	for _, n := range sb.notes {
		fmt.Fprintln(w, n)
	}
	fmt.Fprintln(w, "server peak RSS is its VmHWM during the row (reset through /proc/PID/clear_refs before each).")
	fmt.Fprintln(w, "beyond --max-pending (default 4 x GOMAXPROCS) requests get an immediate 503, and these clients retry at once.")
	return nil
}

// serveBench is part (c) under way: the binary, the images, the table
// and its notes.
type serveBench struct {
	o         *options
	bin       string
	img, big  []byte // 1 MP and 12 MP JPEGs
	modelArgs []string
	tw        *tabwriter.Writer
	notes     []string
	stderr    io.Writer
	sum       *summary
}

// chooseModel picks the model to serve: the user's --model, else the
// generated Husky ONNX model of (a) (both engines can run it), else the
// embedded default; it returns its description.
func (sb *serveBench) chooseModel() string {
	if slices.ContainsFunc(sb.o.serveArgs, func(a string) bool { return strings.HasPrefix(strings.TrimLeft(a, "-"), "model") }) {
		return "the user's --model"
	}
	p, _, _, err := huskyFiles(sb.o, sb.stderr)
	if err != nil {
		return "the embedded default model (" + err.Error() + ")"
	}
	sb.modelArgs = []string{"--model", p}
	return filepath.Base(p) + " (the model of (a))"
}

// serverArgs are the flags of the server of engine, or why it is skipped.
func (sb *serveBench) serverArgs(engine string) (args []string, skip string) {
	args = slices.Concat(sb.o.serveArgs, sb.modelArgs)
	if engine != "ort" {
		return args, ""
	}
	lib, why := ortLibrary(sb.o, sb.stderr)
	if sb.o.ortFailed != "" {
		lib, why = "", sb.o.ortFailed
	}
	if lib == "" || sb.modelArgs == nil && !slices.ContainsFunc(sb.o.serveArgs, func(a string) bool { return strings.Contains(a, ".onnx") }) {
		if why == "" {
			why = "no ONNX model to serve"
		}
		return nil, why
	}
	return append(args, "--engine", "ort", "--ort-lib", lib), ""
}

// engine starts the server of engine and measures its rows: the 1 MP
// image at each level of clients, then the 12 MP one with one client.
func (sb *serveBench) engine(engine string) error {
	args, skip := sb.serverArgs(engine)
	if skip != "" {
		sb.notes = append(sb.notes, "ort: SKIPPED: "+skip)
		return nil
	}
	srv, err := loadgen.StartServer(loadgen.ServerOptions{Binary: sb.bin, InsecureHTTP: sb.o.insecureHTTP, Args: args, Log: loadgen.PrefixWriter{Prefix: "bench: ", W: sb.stderr}})
	if err != nil {
		if engine == "ort" { // e.g. a library that does not load
			lines := strings.Split(strings.TrimSpace(err.Error()), "\n")
			sb.notes = append(sb.notes, "ort: SKIPPED: "+lines[len(lines)-1])
			return nil
		}
		return fmt.Errorf("%s: %w", engine, err)
	}
	defer srv.Stop()
	sb.notes = append(sb.notes, fmt.Sprintf("%s: serve flags %q", engine, srv.Args()))
	base, cfg := strings.TrimSuffix(srv.URL(), "/"), srv.TLS()
	if err := loadgen.WarmUp(base, cfg, sb.img); err != nil {
		return fmt.Errorf("%s: %w", engine, err)
	}
	row := func(label string, data []byte, n int, d time.Duration) loadgen.Result {
		srv.ResetPeakRSS()
		r := loadgen.Attack(base, cfg, data, n, d)
		rss := "n/a"
		if kb, err := srv.PeakRSS(); err == nil {
			rss = fmt.Sprintf("%d MiB", kb>>10)
			sb.sum.peakRSS = max(sb.sum.peakRSS, kb)
		}
		fmt.Fprintf(sb.tw, "%s\t%s\t%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", engine, label, n, r.Requests, r.Rate, r.OKRate,
			msf(r.P50), msf(r.P99), msf(r.Mean), r.Statuses, rss)
		return r
	}
	er := engineServe{engine: engine}
	label := fmt.Sprintf("1 MP 1280x800 (%d KB)", len(sb.img)>>10)
	for _, n := range sb.o.levels {
		er.levels = append(er.levels, row(label, sb.img, n, sb.o.duration))
	}
	if err := loadgen.WarmUp(base, cfg, sb.big); err == nil {
		r := row(fmt.Sprintf("12 MP 4000x3000 (%d KB)", len(sb.big)>>10), sb.big, 1, min(sb.o.duration, 4*time.Second))
		er.big = &r
	} else {
		fmt.Fprintf(sb.tw, "%s\t12 MP\t1\t-\t-\t-\t-\t-\t-\t%v\t-\t\n", engine, err)
	}
	if !srv.PeakPerLevel() {
		sb.notes = append(sb.notes, engine+": peak RSS is the server's since it started (/proc/PID/clear_refs could not be reset)")
	}
	sb.sum.serve = append(sb.sum.serve, er)
	return nil
}

// engineServe is one server's rows of table (c).
type engineServe struct {
	engine string
	levels []loadgen.Result // 1 MP
	big    *loadgen.Result  // 12 MP, one client
}

// summary collects what the targets of issue 6 are checked against.
type summary struct {
	engineRan bool
	nativeP50 time.Duration
	ortP50    time.Duration // ORT, 1 thread
	// nativeP50 is the native engine's at GOMAXPROCS 1.
	nativeAllocs  float64
	prep12        time.Duration // libjpeg path, p50
	prep12Go      time.Duration // pure Go, image/jpeg
	prep12Reduced time.Duration // pure Go, reduced decode (the default build)
	serve         []engineServe
	peakRSS       int64 // KiB
}

func verdict(ok bool) string {
	if ok {
		return "MET"
	}
	return "NOT MET"
}

func (s *summary) print(w io.Writer) {
	fmt.Fprintln(w, "\n== targets of issue 6, checked on this run ==")
	switch {
	case !s.engineRan:
		fmt.Fprintln(w, "- native latency <= 1.5x ORT (1 thread): not measured (part engines not run)")
	case s.ortP50 == 0:
		fmt.Fprintln(w, "- native latency <= 1.5x ORT (1 thread): not measured (no ONNX Runtime)")
	default:
		r := float64(s.nativeP50) / float64(s.ortP50)
		fmt.Fprintf(w, "- native single-image latency (1 CPU) <= 1.5x ONNX Runtime's (1 thread): %s (%s vs %s p50, %.2fx)\n",
			verdict(r <= 1.5), msf(s.nativeP50), msf(s.ortP50), r)
	}
	if s.engineRan {
		fmt.Fprintf(w, "- zero allocations per inference (native engine, Go heap): %s (%.0f)\n", verdict(s.nativeAllocs == 0), s.nativeAllocs)
	}
	if s.prep12 > 0 && s.nativeP50 > 0 {
		est := s.prep12 + s.nativeP50
		fmt.Fprintf(w, "- 12 MP JPEG < 30 ms, on one core, in-process (libjpeg preprocessing p50 + native inference p50 at GOMAXPROCS 1): %s (%s)\n", verdict(est < 30*time.Millisecond), msf(est))
	} else if s.prep12 == 0 && s.prep12Go > 0 {
		fmt.Fprintf(w, "- 12 MP JPEG < 30 ms: no libjpeg path in this build; pure-Go preprocessing alone is %s p50\n", msf(s.prep12Go))
	}
	if s.prep12Reduced > 0 && s.nativeP50 > 0 {
		est := s.prep12Reduced + s.nativeP50
		fmt.Fprintf(w, "- (the same without cgo, default build: reduced-decode preprocessing p50 + native inference p50 at GOMAXPROCS 1: %s; image/jpeg preprocessing alone: %s)\n", msf(est), msf(s.prep12Go))
	}
	for _, e := range s.serve {
		if e.big != nil && e.big.OK > 0 {
			fmt.Fprintf(w, "- [%s] 12 MP JPEG request end to end < 30 ms (through serve, one client; the server may use both CPUs): %s (p50 %s, p99 %s)\n",
				e.engine, verdict(e.big.P50 < 30*time.Millisecond), msf(e.big.P50), msf(e.big.P99))
		}
		if len(e.levels) == 0 {
			continue
		}
		best, top := -1, 0
		for i, r := range e.levels {
			if r.OK > 0 && r.OKRate >= 150 && r.P99 < 100*time.Millisecond {
				best = i
			}
			if r.OKRate > e.levels[top].OKRate {
				top = i
			}
		}
		if best >= 0 {
			r := e.levels[best]
			fmt.Fprintf(w, "- [%s] serve >= 150 req/s of 1 MP JPEGs with p99 < 100 ms: MET at %d clients (%.0f/s, p99 %s)\n", e.engine, r.Clients, r.OKRate, msf(r.P99))
		} else {
			r := e.levels[top]
			fmt.Fprintf(w, "- [%s] serve >= 150 req/s of 1 MP JPEGs with p99 < 100 ms: NOT MET (best %.1f/s at %d clients, p99 %s)\n", e.engine, r.OKRate, r.Clients, msf(r.P99))
		}
	}
	if len(s.serve) > 0 {
		fmt.Fprintf(w, "- server peak RSS over the run: %d MiB\n", s.peakRSS>>10)
	}
}
