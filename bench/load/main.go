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
//	go run ./bench/load -soak 10m [-soak-clients 8] [-soak-every 30s]
//
// With -soak it runs one concurrency for that long instead of the levels,
// and every -soak-every prints the server's resident memory and
// goroutines; it fails (exit status 1) when either grew beyond the slack
// of leak-free noise between the first sample and the last.
//
// It only ever attacks loopback addresses. The work is done by
// bench/internal/loadgen, which the bench harness (go run ./bench) shares.
package main

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/huskyai/huskyai/bench/internal/loadgen"
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
	soak         time.Duration
	soakClients  int
	soakEvery    time.Duration
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
	fs.DurationVar(&o.soak, "soak", 0, "run -soak-clients clients this long instead of the levels, sampling the server's memory and goroutines; fail on growth")
	fs.IntVar(&o.soakClients, "soak-clients", 8, "with -soak: the concurrency")
	fs.DurationVar(&o.soakEvery, "soak-every", 30*time.Second, "with -soak: how often to sample")
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
	if o.soak < 0 || o.soak > 0 && (o.soakEvery <= 0 || o.soakEvery > o.soak || o.soakClients < 1 || o.soakClients > 10000) {
		return nil, errors.New("-soak wants -soak-every within it and -soak-clients from 1 to 10000")
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

	var srv *loadgen.Server
	base, tlsConfig := o.target, &tls.Config{}
	if o.target != "" {
		if err := loadgen.CheckLoopback(o.target); err != nil {
			return err
		}
		tlsConfig.InsecureSkipVerify = o.skipVerify
	} else {
		srv, err = loadgen.StartServer(loadgen.ServerOptions{
			InsecureHTTP: o.insecureHTTP,
			Args:         o.serveArgs,
			Log:          loadgen.PrefixWriter{Prefix: "load: ", W: stderr},
		})
		if err != nil {
			return err
		}
		defer srv.Stop()
		base, tlsConfig = srv.URL(), srv.TLS()
		o.serveArgs = srv.Args()
	}
	base = strings.TrimSuffix(base, "/")
	if err := loadgen.WarmUp(base, tlsConfig, img); err != nil {
		return err
	}

	if o.soak > 0 {
		return soak(o, srv, base, tlsConfig, img, stdout)
	}
	fmt.Fprintf(stdout, "huskyai load test: POST %s/api/v1/predict, %d-byte JPEG, %v per level\n", base, len(img), o.duration)
	fmt.Fprintf(stdout, "client and server on one machine: %d CPUs, GOMAXPROCS %d; serve flags: %q\n\n",
		runtime.NumCPU(), runtime.GOMAXPROCS(0), o.serveArgs)
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "concurrency\trequests\treq/s\t200/s\tp50 (200)\tp99 (200)\tstatuses\tpeak RSS\t")
	for _, n := range o.levels {
		if srv != nil {
			srv.ResetPeakRSS()
		}
		r := loadgen.Attack(base, tlsConfig, img, n, o.duration)
		rss := "n/a"
		if srv != nil {
			if kb, err := srv.PeakRSS(); err == nil {
				rss = fmt.Sprintf("%d MiB", kb>>10)
			}
		}
		fmt.Fprintf(tw, "%d\t%d\t%.1f\t%.1f\t%s\t%s\t%s\t%s\t\n", n, r.Requests, r.Rate, r.OKRate,
			ms(r.P50), ms(r.P99), r.Statuses, rss)
	}
	tw.Flush()
	if srv != nil && !srv.PeakPerLevel() {
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

// loadImage reads the image to send, or makes the default one
// (loadgen.DefaultImage: a 640x480 JPEG).
func loadImage(path string) ([]byte, error) {
	if path != "" {
		return os.ReadFile(path)
	}
	return loadgen.DefaultImage()
}

// Leak-free noise a soak allows between its first sample and its last:
// resident memory may grow by a quarter plus 32 MiB (the heap settles,
// caches fill), goroutines by half plus 20 (connections come and go).
const (
	soakRSSGrowth       = 1.25
	soakRSSSlackKiB     = 32 << 10
	soakGoroutineGrowth = 1.5
	soakGoroutineSlack  = 20
)

// soak runs o.soakClients clients for o.soak in rounds of o.soakEvery,
// printing after each round its rates and the server's resident memory
// and goroutines, and fails when they grew past the allowed noise from
// the sample a third of the way in (before it, caches fill and the idle
// keep-alive connections of earlier rounds pile up to the server's idle
// timeout) to the last.
func soak(o *options, srv *loadgen.Server, base string, cfg *tls.Config, img []byte, stdout io.Writer) error {
	fmt.Fprintf(stdout, "huskyai soak test: POST %s/api/v1/predict, %d-byte JPEG, %d clients for %v, sampled every %v\n\n",
		base, len(img), o.soakClients, o.soak, o.soakEvery)
	row := "%8s %9s %7s %7s %10s %10s %11s  %s\n"
	fmt.Fprintf(stdout, row, "elapsed", "requests", "req/s", "200/s", "p99 (200)", "RSS", "goroutines", "statuses")
	var rssKiB []int64
	var goroutines []int
	for elapsed := time.Duration(0); elapsed < o.soak; {
		d := min(o.soakEvery, o.soak-elapsed)
		r := loadgen.Attack(base, cfg, img, o.soakClients, d)
		elapsed += d
		rss := "n/a"
		if srv != nil {
			if kb, err := srv.RSS(); err == nil {
				rss = fmt.Sprintf("%d MiB", kb>>10)
				rssKiB = append(rssKiB, kb)
			}
		}
		g := "n/a"
		if n, err := loadgen.Goroutines(base, cfg); err == nil {
			g = strconv.Itoa(n)
			goroutines = append(goroutines, n)
		}
		fmt.Fprintf(stdout, row, elapsed, strconv.FormatUint(r.Requests, 10), fmt.Sprintf("%.1f", r.Rate), fmt.Sprintf("%.1f", r.OKRate),
			ms(r.P99), rss, g, r.Statuses)
	}
	var grew, summary []string
	if n := len(rssKiB); n > 0 {
		from, to := rssKiB[n/3], rssKiB[n-1]
		summary = append(summary, fmt.Sprintf("RSS %d -> %d MiB", from>>10, to>>10))
		if float64(to) > soakRSSGrowth*float64(from)+soakRSSSlackKiB {
			grew = append(grew, fmt.Sprintf("resident memory grew from %d to %d MiB", from>>10, to>>10))
		}
	}
	if n := len(goroutines); n > 0 {
		from, to := goroutines[n/3], goroutines[n-1]
		summary = append(summary, fmt.Sprintf("goroutines %d -> %d", from, to))
		if float64(to) > soakGoroutineGrowth*float64(from)+soakGoroutineSlack {
			grew = append(grew, fmt.Sprintf("goroutines grew from %d to %d", from, to))
		}
	}
	if len(grew) > 0 {
		return fmt.Errorf("soak: %s", strings.Join(grew, "; "))
	}
	fmt.Fprintf(stdout, "\nno growth past the noise allowed (memory x%.2f + %d MiB, goroutines x%.1f + %d) from a third of the way in to the end: %s\n",
		soakRSSGrowth, soakRSSSlackKiB>>10, soakGoroutineGrowth, soakGoroutineSlack, strings.Join(summary, ", "))
	return nil
}
