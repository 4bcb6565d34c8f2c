package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"time"

	"github.com/huskyai/huskyai/abuse"
	"github.com/huskyai/huskyai/explain"
)

// Defaults of the abuse flags of "huskyai serve".
const (
	// defaultRateLimit and defaultRateBurst are generous for a person
	// using the page (one request per photo) and for scripts that wait for
	// each answer, and stop a client that floods.
	defaultRateLimit      = 10.0
	defaultRateBurst      = 20
	defaultProbeThreshold = 20
	maxProbeWindow        = 24 * time.Hour
	maxProbeDistance      = 20
)

// abuseFlags are the flags of "huskyai serve" that defend against
// abusive clients: who the client is behind a proxy, the per-client rate
// limit, how much a response tells, and the probing detector.
type abuseFlags struct {
	trustedProxies prefixList
	rateLimit      float64
	rateBurst      int
	labelOnly      bool
	noExplain      bool
	probeThreshold int
	probeWindow    time.Duration
	probeDistance  int
	blockProbing   bool
}

// register defines the flags on fs.
func (a *abuseFlags) register(fs *flag.FlagSet) {
	fs.Var(&a.trustedProxies, "trusted-proxy", "`CIDR[,CIDR...]` of reverse proxies whose X-Forwarded-For is believed (repeatable):\nwhen a request comes from one, its client is the right-most X-Forwarded-For address\nthat is not itself a trusted proxy; otherwise X-Forwarded-For is ignored and the\nclient is the connection's peer. Off by default")
	fs.Float64Var(&a.rateLimit, "rate-limit", defaultRateLimit, "prediction requests per second allowed to one client (an IPv4 address or an IPv6 /64)\non average; more get 429 rate_limited with Retry-After before their upload is read;\n0 turns the limit off")
	fs.IntVar(&a.rateBurst, "rate-burst", defaultRateBurst, "prediction requests one client may send at once before --rate-limit applies")
	fs.BoolVar(&a.labelOnly, "label-only", false, "answer predictions with the label and text only: no probability, no score (the\noriginal contract's \"score\" is then absent), so a client learns less about the model")
	fs.BoolVar(&a.noExplain, "no-explain", false, "turn explanations off (POST /api/v1/explain, :explain, the page's \"Why?\"): each runs\nthe model 5 to 65 times on variations of one picture and counts as that many\npredictions for --rate-limit and --probe-threshold; --label-only implies it")
	fs.IntVar(&a.probeThreshold, "probe-threshold", defaultProbeThreshold, fmt.Sprintf("flag a client as probing the model once this many of its images within\n--probe-window are near-identical (perceptual hash within --probe-distance bits) but\nnot byte-identical: a warning, huskyai_probing_flagged_total and the audit record's\n\"probing\"; 0 turns the detector off, else 2..%d", abuse.MaxProbeThreshold))
	fs.DurationVar(&a.probeWindow, "probe-window", abuse.DefaultProbeWindow, "the probing detector's sliding window")
	fs.IntVar(&a.probeDistance, "probe-distance", abuse.DefaultProbeDistance, fmt.Sprintf("largest number of differing bits of the 64-bit perceptual hashes of two\nnear-identical images, 1..%d", maxProbeDistance))
	fs.BoolVar(&a.blockProbing, "block-probing", false, "refuse the predictions of a client flagged by --probe-threshold with 429\nprobing_suspected until its near-identical images leave --probe-window")
}

// check validates the flags.
func (a *abuseFlags) check() error {
	switch {
	case a.rateLimit < 0 || math.IsNaN(a.rateLimit) || math.IsInf(a.rateLimit, 0):
		return fmt.Errorf("--rate-limit %v: want requests per second, 0 for no limit", a.rateLimit)
	case a.rateLimit > 0 && a.rateBurst < 1:
		return fmt.Errorf("--rate-burst %d: want at least 1", a.rateBurst)
	case a.probeThreshold < 0 || a.probeThreshold == 1 || a.probeThreshold > abuse.MaxProbeThreshold:
		return fmt.Errorf("--probe-threshold %d: want 0 (off) or 2..%d", a.probeThreshold, abuse.MaxProbeThreshold)
	case a.probeWindow <= 0 || a.probeWindow > maxProbeWindow:
		return fmt.Errorf("--probe-window %v: want more than 0 and at most %v", a.probeWindow, maxProbeWindow)
	case a.probeDistance < 1 || a.probeDistance > maxProbeDistance:
		return fmt.Errorf("--probe-distance %d: want 1..%d", a.probeDistance, maxProbeDistance)
	case a.blockProbing && a.probeThreshold == 0:
		return errors.New("--block-probing needs the probing detector: --probe-threshold must not be 0")
	}
	return nil
}

// log writes the abuse defences in force at start.
func (a *abuseFlags) log(logger *slog.Logger) {
	logger.Info("abuse defences",
		"trusted_proxies", a.trustedProxies.String(),
		"rate_limit", a.rateLimit, "rate_burst", a.rateBurst,
		"label_only", a.labelOnly, "explanations", !a.noExplain && !a.labelOnly,
		"probe_threshold", a.probeThreshold, "probe_window", a.probeWindow.String(),
		"probe_distance", a.probeDistance, "block_probing", a.blockProbing)
	if a.rateLimit == 0 {
		logger.Warn("--rate-limit 0: prediction requests are not limited per client")
	}
	if a.blockProbing && !a.noExplain && !a.labelOnly && a.probeThreshold <= explain.MaxInferences {
		logger.Warn("--block-probing with explanations on: an explanation counts as up to this many near-identical images, so a client that asks for one is then blocked; raise --probe-threshold or use --no-explain",
			"explanation_inferences", explain.MaxInferences, "probe_threshold", a.probeThreshold)
	}
}

// prefixList is a flag.Value of networks: each Set appends a
// comma-separated list (abuse.ParseTrustedProxies).
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	var s []string
	for _, q := range *p {
		s = append(s, q.String())
	}
	return strings.Join(s, ",")
}

func (p *prefixList) Set(v string) error {
	ps, err := abuse.ParseTrustedProxies(v)
	if err != nil {
		return err
	}
	*p = append(*p, ps...)
	return nil
}
