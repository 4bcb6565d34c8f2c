// Command load is the load test of huskyai serve: it builds the real
// binary, starts it on a loopback port (HTTPS with its self-signed
// certificate, pinned by the fingerprint it prints), and attacks
// POST /api/v1/predict with one fixed image at several concurrency
// levels in turn, using vegeta as a library. Each level runs for a fixed
// duration with that many clients sending requests back to back (a
// closed loop, so the offered load adapts to the server). It prints one
// row per level: requests per second, successful answers per second, the
// latency of successful answers (p50, p99), the answers by status, and
// the server's peak resident memory during the level.
//
// Usage (from the repository root; see README.md in this directory):
//
//	go run ./bench/load [-levels 1,8,64] [-duration 10s] [-image FILE] [-insecure-http] [-- serve flags...]
//	go run ./bench/load -target https://127.0.0.1:8443/ -insecure-skip-verify
//
// It only ever attacks loopback addresses.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// options are the command-line flags.
type options struct {
	levels       []int
	duration     time.Duration
	imagePath    string
	insecureHTTP bool
	target       string
	skipVerify   bool
	serveArgs    []string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	levels := fs.String("levels", "1,8,64", "comma-separated concurrency levels: clients sending back to back")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each level runs")
	fs.StringVar(&o.imagePath, "image", "", "image to send (default: a generated 640x480 JPEG of about 50 KB)")
	fs.BoolVar(&o.insecureHTTP, "insecure-http", false, "start the server with --insecure-http instead of HTTPS")
	fs.StringVar(&o.target, "target", "", "attack this already running server (a loopback URL such as https://127.0.0.1:8443/) instead of starting one; its memory is then not reported")
	fs.BoolVar(&o.skipVerify, "insecure-skip-verify", false, "with -target over HTTPS: do not verify the certificate (loopback only)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage: go run ./bench/load [flags] [-- huskyai serve flags]\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o.serveArgs = fs.Args()
	for _, f := range strings.Split(*levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 10000 {
			return nil, fmt.Errorf("-levels: %q is not a concurrency of 1 to 10000", f)
		}
		o.levels = append(o.levels, n)
	}
	if o.duration <= 0 {
		return nil, errors.New("-duration must be positive")
	}
	if o.target != "" && len(o.serveArgs) > 0 {
		return nil, errors.New("serve flags make no sense with -target")
	}
	return o, nil
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	img, err := loadImage(o.imagePath)
	if err != nil {
		return err
	}

	var srv *server
	base, tlsConfig := o.target, &tls.Config{}
	if o.target != "" {
		if err := checkLoopback(o.target); err != nil {
			return err
		}
		tlsConfig.InsecureSkipVerify = o.skipVerify
	} else {
		srv, err = startServer(o, stderr)
		if err != nil {
			return err
		}
		defer srv.stop()
		base, tlsConfig = srv.url, srv.tls
		if err := checkLoopback(base); err != nil {
			return err
		}
	}
	base = strings.TrimSuffix(base, "/")
	if err := warmUp(base, tlsConfig, img); err != nil {
		return err
	}

	fmt.Fprintf(stdout, "huskyai load test: POST %s/api/v1/predict, %d-byte JPEG, %v per level\n", base, len(img), o.duration)
	fmt.Fprintf(stdout, "client and server on one machine: %d CPUs, GOMAXPROCS %d; serve flags: %q\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), o.serveArgs)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\trequests\treq/s\t200/s\tp50 (200)\tp99 (200)\tstatuses\tpeak RSS\t")
	for _, n := range o.levels {
		if srv != nil {
			srv.resetPeakRSS()
		}
		r := attack(base, tlsConfig, img, n, o.duration)
		rss := "n/a"
		if srv != nil {
			if kb, err := srv.peakRSS(); err == nil {
				rss = fmt.Sprintf("%d MiB", kb>>10)
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t\n", n, r.requests, r.rate, r.okRate,
			ms(r.p50), ms(r.p99), r.statuses, rss)
	}
	tw.Flush()
	if srv != nil && !srv.peakPerLevel {
		fmt.Fprintln(stdout, "\n(peak RSS is the server's since it started: /proc/PID/clear_refs could not be reset)")
	}
	return nil
}

func ms(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000)
}

// checkLoopback refuses a URL whose host is not a loopback address (or
// localhost resolving only to loopback addresses).
func checkLoopback(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("target %q is not an http(s) URL", raw)
	}
	host := u.Hostname()
	ips := []net.IP{net.ParseIP(host)}
	if ips[0] == nil {
		if host != "localhost" {
			return fmt.Errorf("target %q: only loopback addresses may be attacked", raw)
		}
		addrs, err := net.LookupIP(host)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("target %q: resolving localhost: %v", raw, err)
		}
		ips = addrs
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("target %q: %v is not a loopback address; only loopback may be attacked", raw, ip)
		}
	}
	return nil
}

// loadImage reads the image to send, or makes the default one: a 640x480
// JPEG (quality 85) of smooth gradients and some texture, like a small
// photo.
func loadImage(path string) ([]byte, error) {
	if path != "" {
		return os.ReadFile(path)
	}
	m := image.NewRGBA(image.Rect(0, 0, 640, 480))
	for y := 0; y < 480; y++ {
		for x := 0; x < 640; x++ {
			t := uint8((x*y/7 + x*13) % 32)
			m.SetRGBA(x, y, color.RGBA{uint8(x/3) + t, uint8(y/2) + t, uint8(200 - x/5), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 85}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// server is the huskyai serve process the load test started.
type server struct {
	cmd          *exec.Cmd
	dir          string
	url          string
	tls          *tls.Config
	peakPerLevel bool
	exited       chan error
}

var (
	listeningRE   = regexp.MustCompile(`listening on (\S+)`)
	fingerprintRE = regexp.MustCompile(`fingerprint: ([0-9A-F:]+)`)
)

// startServer builds cmd/huskyai into a temporary directory and starts
// "huskyai serve --addr 127.0.0.1:0" with the extra serve flags, its log
// going to a file there.
func startServer(o *options, stderr io.Writer) (*server, error) {
	dir, err := os.MkdirTemp("", "huskyai-load-")
	if err != nil {
		return nil, err
	}
	s := &server{dir: dir, exited: make(chan error, 1)}
	bin := filepath.Join(dir, "huskyai")
	fmt.Fprintln(stderr, "load: building ./cmd/huskyai")
	build := exec.Command("go", "build", "-o", bin, "./cmd/huskyai")
	build.Dir, err = moduleRoot()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if out, err := build.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("go build: %v\n%s", err, out)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if o.insecureHTTP {
		args = append(args, "--insecure-http")
	}
	// Every request comes from 127.0.0.1, one client to the per-client
	// rate limiter: turn it off unless asked for, to measure the service
	// rather than the limit.
	help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	if bytes.Contains(help, []byte("-rate-limit")) && !slices.ContainsFunc(o.serveArgs, func(a string) bool {
		return strings.HasPrefix(strings.TrimLeft(a, "-"), "rate-limit")
	}) {
		o.serveArgs = append([]string{"--rate-limit", "0"}, o.serveArgs...)
	}
	s.cmd = exec.Command(bin, append(args, o.serveArgs...)...)
	logPath := filepath.Join(dir, "serve.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	defer logFile.Close()
	s.cmd.Stderr = logFile
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
		s.exited <- s.cmd.Wait()
	}()
	fingerprint := ""
	timeout := time.After(2 * time.Minute)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				log, _ := os.ReadFile(logPath)
				os.RemoveAll(dir)
				return nil, fmt.Errorf("huskyai serve exited before listening:\n%s", log)
			}
			if m := fingerprintRE.FindStringSubmatch(line); m != nil {
				fingerprint = m[1]
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.url = m[1]
			}
		case <-timeout:
			s.stop()
			return nil, errors.New("huskyai serve did not listen within 2 minutes")
		}
	}
	go func() {
		for range lines { // keep draining stdout
		}
	}()
	s.tls = &tls.Config{}
	if strings.HasPrefix(s.url, "https://") {
		if fingerprint == "" {
			s.stop()
			return nil, errors.New("huskyai serve printed no certificate fingerprint")
		}
		s.tls = pinned(fingerprint)
	}
	fmt.Fprintf(stderr, "load: huskyai serve (pid %d) listening on %s, log in %s\n", s.cmd.Process.Pid, s.url, logPath)
	return s, nil
}

// moduleRoot is the directory of the go.mod of the current module.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run from inside the huskyai module")
	}
	return filepath.Dir(gomod), nil
}

// pinned trusts exactly the certificate with the SHA-256 fingerprint fp
// (colon-separated hex, as huskyai serve prints it).
func pinned(fp string) *tls.Config {
	want := strings.ToLower(strings.ReplaceAll(fp, ":", ""))
	return &tls.Config{
		InsecureSkipVerify: true, // replaced by the pin below
		VerifyConnection: func(cs tls.ConnectionState) error {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != want {
				return errors.New("certificate fingerprint mismatch")
			}
			return nil
		},
	}
}

// stop ends the server with SIGTERM (a graceful shutdown), then SIGKILL
// after 30 seconds, and removes the temporary directory.
func (s *server) stop() {
	if s.cmd.Process != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
		}
	}
	os.RemoveAll(s.dir)
}

// resetPeakRSS resets the server's VmHWM (Linux: "5" to clear_refs), so
// that peakRSS reports the peak of the level about to run.
func (s *server) resetPeakRSS() {
	err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
	s.peakPerLevel = err == nil
}

// peakRSS reads the server's VmHWM, in KiB.
func (s *server) peakRSS() (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no VmHWM")
}

// warmUp waits for /healthz and checks that one prediction succeeds, so
// that a misconfiguration is not reported as a table of errors.
func warmUp(base string, cfg *tls.Config, img []byte) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	res, err := client.Get(base + "/healthz")
	if err != nil {
		return fmt.Errorf("healthz: %w", err)
	}
	res.Body.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", base+"/api/v1/predict", bytes.NewReader(img))
	req.Header.Set("Content-Type", "image/jpeg")
	res, err = client.Do(req)
	if err != nil {
		return fmt.Errorf("warm-up prediction: %w", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("warm-up prediction: %s %s", res.Status, b)
	}
	return nil
}

// levelResult is one row of the table.
type levelResult struct {
	requests     uint64
	rate, okRate float64
	p50, p99     time.Duration // of the 200 answers
	statuses     string
}

// attack runs n clients sending img back to back for d, on keep-alive
// connections (one per client).
func attack(base string, cfg *tls.Config, img []byte, n int, d time.Duration) levelResult {
	target := vegeta.Target{
		Method: "POST",
		URL:    base + "/api/v1/predict",
		Body:   img,
		Header: http.Header{"Content-Type": []string{"image/jpeg"}},
	}
	atk := vegeta.NewAttacker(
		vegeta.Workers(uint64(n)), vegeta.MaxWorkers(uint64(n)), // exactly n clients
		vegeta.Connections(n), vegeta.KeepAlive(true), vegeta.HTTP2(false),
		vegeta.TLSConfig(cfg), vegeta.Timeout(60*time.Second),
		vegeta.Proxy(func(*http.Request) (*url.URL, error) { return nil, nil }),
	)
	var m vegeta.Metrics
	var ok []time.Duration
	statuses := map[string]int{}
	firstErr := ""
	// A zero rate with MaxWorkers: each worker sends as soon as its
	// previous request is answered.
	for r := range atk.Attack(vegeta.NewStaticTargeter(target), vegeta.ConstantPacer{}, d, "load") {
		m.Add(r)
		switch {
		case r.Code == 200:
			ok = append(ok, r.Latency)
		case r.Code == 0:
			statuses["error"]++
			if firstErr == "" {
				firstErr = r.Error
			}
		default:
			statuses[strconv.Itoa(int(r.Code))]++
		}
	}
	m.Close()
	res := levelResult{requests: m.Requests}
	if secs := m.Duration.Seconds() + m.Wait.Seconds(); secs > 0 {
		res.rate = float64(m.Requests) / secs
		res.okRate = float64(len(ok)) / secs
	}
	if len(ok) > 0 {
		slices.Sort(ok)
		res.p50 = ok[(len(ok)-1)*50/100]
		res.p99 = ok[(len(ok)-1)*99/100]
	}
	keys := make([]string, 0, len(statuses))
	for k := range statuses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := []string{fmt.Sprintf("200:%d", len(ok))}
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s:%d", k, statuses[k]))
	}
	res.statuses = strings.Join(parts, " ")
	if firstErr != "" {
		res.statuses += " (first error: " + firstErr + ")"
	}
	return res
}
