// Package loadgen is the load generator of huskyai's benchmarks
// (bench/load and the bench harness): it builds the real huskyai binary,
// starts "huskyai serve" on a loopback port (HTTPS with its self-signed
// certificate, pinned by the fingerprint it prints), and attacks
// POST /api/v1/predict with one fixed image using vegeta as a library,
// with a fixed number of clients sending back to back (a closed loop). It
// reads the server's peak resident memory from /proc.
//
// It only ever attacks loopback addresses.
package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// CheckLoopback refuses a URL whose host is not a loopback address (or
// localhost resolving only to loopback addresses).
func CheckLoopback(raw string) error {
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

// DefaultImage is bench/load's default image: a 640x480 JPEG (quality 85)
// of smooth gradients and some texture, like a small photo.
func DefaultImage() ([]byte, error) {
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

// PhotoJPEG makes a w x h JPEG (quality 90, 4:2:0) that compresses like a
// photo: smooth gradients scaled to the image, a few soft blobs, fine
// texture and seeded noise, so that its size per pixel (about 0.2-0.4
// bytes) and its decode cost are those of a camera picture rather than of
// a flat test card.
func PhotoJPEG(w, h int, seed uint32) ([]byte, error) {
	m := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	s := seed*2654435761 + 1
	rnd := func() uint32 { // xorshift32
		s ^= s << 13
		s ^= s >> 17
		s ^= s << 5
		return s
	}
	type blob struct{ cx, cy, r, v float64 }
	blobs := make([]blob, 6)
	for i := range blobs {
		blobs[i] = blob{float64(rnd()%1000) / 1000, float64(rnd()%1000) / 1000, 0.05 + float64(rnd()%200)/1000, float64(rnd()%120) - 60}
	}
	for y := 0; y < h; y++ {
		fy := float64(y) / float64(h)
		for x := 0; x < w; x++ {
			fx := float64(x) / float64(w)
			v := 60 + 110*fy + 40*math.Sin(fx*9+fy*4)
			for _, b := range blobs {
				dx, dy := fx-b.cx, fy-b.cy
				v += b.v * math.Exp(-(dx*dx+dy*dy)/(b.r*b.r))
			}
			v += 12*math.Sin(float64(x)*0.9)*math.Cos(float64(y)*0.7) + float64(rnd()%17) - 8
			m.Y[y*m.YStride+x] = uint8(max(0, min(255, v)))
		}
	}
	for y := 0; y < (h+1)/2; y++ {
		fy := float64(y*2) / float64(h)
		for x := 0; x < (w+1)/2; x++ {
			fx := float64(x*2) / float64(w)
			i := y*m.CStride + x
			m.Cb[i] = uint8(128 + 30*math.Sin(fx*5) + float64(rnd()%5))
			m.Cr[i] = uint8(128 + 30*math.Cos(fy*4+fx) + float64(rnd()%5))
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ServerOptions say how to build and start huskyai serve.
type ServerOptions struct {
	// Tags are the build tags of the binary (go build -tags), e.g.
	// "ort,libjpeg"; empty for the default build.
	Tags string
	// InsecureHTTP starts the server with --insecure-http.
	InsecureHTTP bool
	// Args are more serve flags. Unless one of them sets --rate-limit,
	// "--rate-limit 0" is added: every request comes from 127.0.0.1, which
	// the per-client limiter counts as one client.
	Args []string
	// Log receives progress lines (building, started); nil discards them.
	Log io.Writer
	// Binary, if set, is a huskyai binary to run (see Build) instead of
	// building one; Tags are then ignored.
	Binary string
}

// Build builds ./cmd/huskyai of the current module with the build tags
// (empty for none) into the file bin.
func Build(tags, bin string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	root, err := ModuleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-o", bin}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "./cmd/huskyai")
	fmt.Fprintf(log, "building: go %s\n", strings.Join(args, " "))
	build := exec.Command("go", args...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	return nil
}

// Server is a huskyai serve process started by StartServer.
type Server struct {
	cmd          *exec.Cmd
	dir          string
	url          string
	tls          *tls.Config
	args         []string
	peakPerLevel bool
	exited       chan error
}

var (
	listeningRE   = regexp.MustCompile(`listening on (\S+)`)
	fingerprintRE = regexp.MustCompile(`fingerprint: ([0-9A-F:]+)`)
)

// StartServer builds cmd/huskyai into a temporary directory (unless
// o.Binary names one) and starts "huskyai serve --addr 127.0.0.1:0" with
// the extra serve flags, its log going to a file there. Stop ends it and
// removes the directory.
func StartServer(o ServerOptions) (*Server, error) {
	logw := o.Log
	if logw == nil {
		logw = io.Discard
	}
	dir, err := os.MkdirTemp("", "huskyai-load-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, exited: make(chan error, 1)}
	bin := o.Binary
	if bin == "" {
		bin = filepath.Join(dir, "huskyai")
		if err := Build(o.Tags, bin, logw); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	args := []string{"serve", "--addr", "127.0.0.1:0"}
	if o.InsecureHTTP {
		args = append(args, "--insecure-http")
	}
	s.args = serveArgs(bin, o.Args)
	s.cmd = exec.Command(bin, append(args, s.args...)...)
	logPath := filepath.Join(dir, "serve.log")
	lines, err := s.start(logPath)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := s.awaitListening(lines, logPath); err != nil {
		return nil, err
	}
	fmt.Fprintf(logw, "huskyai serve (pid %d) listening on %s, log in %s\n", s.cmd.Process.Pid, s.url, logPath)
	return s, nil
}

// serveArgs are the extra serve flags, with the per-client defences
// turned off where the binary has them and they do not set them
// (--rate-limit 0, --max-pending-per-client at --max-pending's most): a
// load test is one client that sends as fast as it can, and what it
// measures is the server, not the share one client gets.
func serveArgs(bin string, extra []string) []string {
	help, _ := exec.Command(bin, "serve", "--help").CombinedOutput()
	for _, f := range []struct{ name, off string }{{"rate-limit", "0"}, {"max-pending-per-client", "100000"}} {
		if bytes.Contains(help, []byte("-"+f.name)) && !slices.ContainsFunc(extra, func(a string) bool {
			return strings.HasPrefix(strings.TrimLeft(a, "-"), f.name)
		}) {
			extra = append([]string{"--" + f.name, f.off}, extra...)
		}
	}
	return extra
}

// start starts the server with its stderr to the file logPath, and
// returns its stdout, line by line; the channel closes when the process
// exits, and s.exited then receives its status.
func (s *Server) start(logPath string) (<-chan string, error) {
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	s.cmd.Stderr = logFile
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.cmd.Start(); err != nil {
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
	return lines, nil
}

// awaitListening reads the server's stdout until it says where it
// listens (and, over HTTPS, its certificate's fingerprint, which the
// client pins), then keeps draining it. On failure the server is stopped
// and its directory removed.
func (s *Server) awaitListening(lines <-chan string, logPath string) error {
	fingerprint := ""
	timeout := time.After(2 * time.Minute)
	for s.url == "" {
		select {
		case line, ok := <-lines:
			if !ok {
				log, _ := os.ReadFile(logPath)
				os.RemoveAll(s.dir)
				return fmt.Errorf("huskyai serve exited before listening:\n%s", log)
			}
			if m := fingerprintRE.FindStringSubmatch(line); m != nil {
				fingerprint = m[1]
			}
			if m := listeningRE.FindStringSubmatch(line); m != nil {
				s.url = m[1]
			}
		case <-timeout:
			s.Stop()
			return errors.New("huskyai serve did not listen within 2 minutes")
		}
	}
	go func() {
		for range lines { // keep draining stdout
		}
	}()
	s.tls = &tls.Config{}
	if strings.HasPrefix(s.url, "https://") {
		if fingerprint == "" {
			s.Stop()
			return errors.New("huskyai serve printed no certificate fingerprint")
		}
		s.tls = Pinned(fingerprint)
	}
	if err := CheckLoopback(s.url); err != nil {
		s.Stop()
		return err
	}
	return nil
}

// URL is the server's base URL, such as https://127.0.0.1:41234/.
func (s *Server) URL() string { return s.url }

// TLS is the client configuration that trusts the server's certificate.
func (s *Server) TLS() *tls.Config { return s.tls }

// Pid is the server's process id.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Args are the serve flags it was started with, besides --addr and
// --insecure-http.
func (s *Server) Args() []string { return s.args }

// PeakPerLevel reports whether the last ResetPeakRSS worked, so that
// PeakRSS is the peak since then rather than since the start.
func (s *Server) PeakPerLevel() bool { return s.peakPerLevel }

// ModuleRoot is the directory of the go.mod of the current module.
func ModuleRoot() (string, error) {
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

// Pinned trusts exactly the certificate with the SHA-256 fingerprint fp
// (colon-separated hex, as huskyai serve prints it).
func Pinned(fp string) *tls.Config {
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

// Stop ends the server with SIGTERM (a graceful shutdown), then SIGKILL
// after 30 seconds, and removes the temporary directory.
func (s *Server) Stop() {
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

// ResetPeakRSS resets the server's VmHWM (Linux: "5" to clear_refs), so
// that PeakRSS reports the peak of what runs next.
func (s *Server) ResetPeakRSS() {
	err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", s.cmd.Process.Pid), []byte("5"), 0)
	s.peakPerLevel = err == nil
}

// PeakRSS reads the server's VmHWM, in KiB.
func (s *Server) PeakRSS() (int64, error) { return s.status("VmHWM") }

// RSS reads the server's VmRSS (its resident memory now), in KiB.
func (s *Server) RSS() (int64, error) { return s.status("VmRSS") }

// status reads a kB field of /proc/PID/status.
func (s *Server) status(field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, errors.New("no " + field)
}

// Goroutines reads go_goroutines from the server's /metrics.
func Goroutines(base string, cfg *tls.Config) (int, error) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	res, err := client.Get(strings.TrimSuffix(base, "/") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "go_goroutines "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return int(f), err
		}
	}
	return 0, errors.New("/metrics has no go_goroutines")
}

// WarmUp waits for /healthz and checks that one prediction of img
// succeeds, so that a misconfiguration is not reported as a table of
// errors.
func WarmUp(base string, cfg *tls.Config, img []byte) error {
	base = strings.TrimSuffix(base, "/")
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

// Result is what one concurrency level measured.
type Result struct {
	Clients  int
	Requests uint64  // all answers
	OK       int     // 200 answers
	Rate     float64 // answers per second
	OKRate   float64 // 200 answers per second (goodput)
	// Latencies of the 200 answers.
	P50, P99, Mean time.Duration
	// Statuses lists the answers by status, "200:85 503:12", with the
	// first error of requests that got no HTTP answer.
	Statuses string
}

// Attack runs n clients sending img (as image/jpeg) to POST
// base/api/v1/predict back to back for d, on keep-alive connections (one
// per client).
func Attack(base string, cfg *tls.Config, img []byte, n int, d time.Duration) Result {
	target := vegeta.Target{
		Method: "POST",
		URL:    strings.TrimSuffix(base, "/") + "/api/v1/predict",
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
	res := Result{Clients: n, Requests: m.Requests, OK: len(ok)}
	if secs := m.Duration.Seconds() + m.Wait.Seconds(); secs > 0 {
		res.Rate = float64(m.Requests) / secs
		res.OKRate = float64(len(ok)) / secs
	}
	if len(ok) > 0 {
		slices.Sort(ok)
		res.P50 = ok[(len(ok)-1)*50/100]
		res.P99 = ok[(len(ok)-1)*99/100]
		var sum time.Duration
		for _, l := range ok {
			sum += l
		}
		res.Mean = sum / time.Duration(len(ok))
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
	res.Statuses = strings.Join(parts, " ")
	if firstErr != "" {
		res.Statuses += " (first error: " + firstErr + ")"
	}
	return res
}

// PrefixWriter writes each Write (one line of a server's log) to W with
// Prefix in front.
type PrefixWriter struct {
	Prefix string
	W      io.Writer
}

// Write implements io.Writer.
func (p PrefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.W, p.Prefix); err != nil {
		return 0, err
	}
	return p.W.Write(b)
}
