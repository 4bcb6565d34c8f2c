// Package evaluate measures a binary classifier — husky or not — on
// labelled samples: accuracy, precision, recall, specificity, balanced
// accuracy, F1 and ROC AUC with 95% intervals, the confusion matrix,
// error rates per category of image, calibration (ECE and a reliability
// table) and a threshold sweep. It also generates the original Husky AI's
// failure images (Probes), solid grey and noise, which a husky detector
// should never call a husky.
//
// An image is called a husky when its probability is above the threshold,
// as huskyai.NewVerdict does. Metrics that are undefined for the samples
// given — the precision of a classifier that never says husky, the ROC AUC
// of samples of one class only — are NaN, which Float encodes as JSON null.
package evaluate

import (
	"cmp"
	"math"
	"math/rand/v2"
	"slices"
)

// Sample is one classified image with its true label.
type Sample struct {
	// Probability is the classifier's husky probability, in [0, 1].
	Probability float64
	// Husky is the true label.
	Husky bool
	// Category names the kind of image, such as "other/wolf" or
	// "husky/malamute"; empty means the class alone, "husky" or "other".
	Category string
	// File names the image in Report.TopErrors.
	File string
}

// Defaults of Options.
const (
	DefaultBootstrap = 1000
	DefaultBins      = 10
	DefaultTopErrors = 10
)

// Confidence is the coverage of every interval of a Report.
const Confidence = 0.95

// z is the standard normal quantile of 1 - (1-Confidence)/2.
const z = 1.959963984540054

// Options configure Compute. The zero value gives the defaults.
type Options struct {
	// Bootstrap is the number of stratified bootstrap resamples behind the
	// intervals of balanced accuracy and ROC AUC: 0 means
	// DefaultBootstrap, a negative number none (the intervals are NaN).
	Bootstrap int
	// Seed seeds the bootstrap: the same samples, options and seed give
	// the same Report.
	Seed uint64
	// Bins is the number of equal-width bins of the reliability table: 0
	// means DefaultBins.
	Bins int
	// TopErrors is the number of most confident errors listed in
	// Report.TopErrors: 0 means DefaultTopErrors, a negative number none.
	TopErrors int
}

func (o Options) withDefaults() Options {
	if o.Bootstrap == 0 {
		o.Bootstrap = DefaultBootstrap
	}
	if o.Bootstrap < 0 {
		o.Bootstrap = 0
	}
	if o.Bins <= 0 {
		o.Bins = DefaultBins
	}
	if o.TopErrors == 0 {
		o.TopErrors = DefaultTopErrors
	}
	if o.TopErrors < 0 {
		o.TopErrors = 0
	}
	return o
}

// Report is the evaluation of a classifier on a set of samples. Its JSON
// form has snake_case keys in a fixed order, floats rounded to 6 decimals
// and undefined values as null (see Float).
type Report struct {
	// N is the number of samples, NHusky and NOther those of each class.
	N      int `json:"n"`
	NHusky int `json:"n_husky"`
	NOther int `json:"n_other"`
	// Threshold is the probability above which a sample is called a husky.
	Threshold Float `json:"threshold"`

	// Accuracy is (TP+TN)/N.
	Accuracy Proportion `json:"accuracy"`
	// BalancedAccuracy is the mean of Recall and Specificity, with a
	// bootstrap interval.
	BalancedAccuracy Interval `json:"balanced_accuracy"`
	// Precision is TP/(TP+FP): how many of the images called huskies are.
	Precision Proportion `json:"precision"`
	// Recall (sensitivity) is TP/(TP+FN): how many huskies are found.
	Recall Proportion `json:"recall"`
	// Specificity is TN/(TN+FP): how many other images are called other.
	Specificity Proportion `json:"specificity"`
	// F1 is the harmonic mean of precision and recall, 2TP/(2TP+FP+FN).
	F1 Float `json:"f1"`
	// ROCAUC is the area under the ROC curve: the probability that a
	// random husky scores above a random other image, ties counting half
	// (Mann–Whitney U / (n_husky·n_other)), with a bootstrap interval.
	ROCAUC Interval `json:"roc_auc"`
	// Confusion is the confusion matrix at Threshold.
	Confusion Confusion `json:"confusion"`

	// Categories are the error rates per category, by name.
	Categories []Category `json:"categories"`
	// Calibration says how well the probabilities match the frequencies.
	Calibration Calibration `json:"calibration"`
	// Sweep gives the main metrics at thresholds 0.05, 0.10, …, 0.95 and
	// at Threshold, in increasing order.
	Sweep []SweepPoint `json:"threshold_sweep"`
	// TopErrors are the most confident errors, the most confident first.
	TopErrors []Miss `json:"top_errors"`

	// Bootstrap is the number of resamples behind the bootstrap intervals
	// (0: none) and Seed their seed.
	Bootstrap int    `json:"bootstrap"`
	Seed      uint64 `json:"seed"`

	// Probes are the results on generated images (ScoreProbes), which
	// Compute leaves empty for the caller to fill.
	Probes []ProbeResult `json:"probes,omitempty"`
}

// Interval is an estimate with its 95% interval [Lo, Hi].
type Interval struct {
	Value Float `json:"value"`
	Lo    Float `json:"lo"`
	Hi    Float `json:"hi"`
}

// Proportion is K of N with its Wilson score interval; with N zero every
// value is NaN.
type Proportion struct {
	K int `json:"k"`
	N int `json:"n"`
	Interval
}

// NewProportion returns k of n with its Wilson score interval.
func NewProportion(k, n int) Proportion {
	lo, hi := Wilson(k, n)
	return Proportion{K: k, N: n, Interval: Interval{Value: Float(ratio(k, n)), Lo: Float(lo), Hi: Float(hi)}}
}

// Confusion is a confusion matrix, husky being the positive class.
type Confusion struct {
	// TP are huskies called huskies, FN huskies called other.
	TP int `json:"tp"`
	FN int `json:"fn"`
	// FP are other images called huskies, TN other images called other.
	FP int `json:"fp"`
	TN int `json:"tn"`
}

// Category is the error rate of one category of samples.
type Category struct {
	Name string `json:"name"`
	// Husky is the true label of the category's samples (of the first, if
	// a category mixes both).
	Husky bool `json:"husky"`
	N     int  `json:"n"`
	// Errors is the number of samples called the wrong class.
	Errors int `json:"errors"`
	// ErrorRate is Errors/N with its Wilson interval.
	ErrorRate Interval `json:"error_rate"`
	// MeanProbability is the mean husky probability of the category.
	MeanProbability Float `json:"mean_probability"`
}

// Calibration compares the predicted probabilities with the observed
// frequency of huskies.
type Calibration struct {
	// ECE is the expected calibration error: the mean over the bins,
	// weighted by their number of samples, of |mean predicted − observed
	// husky fraction|.
	ECE Float `json:"ece"`
	// Brier is the mean squared difference of probability and label.
	Brier Float `json:"brier"`
	// Bins is the reliability table: equal-width bins over [0, 1], the
	// last one closed; empty bins have NaN means.
	Bins []Bin `json:"bins"`
}

// Bin is one row of the reliability table: the samples whose probability
// lies in [Lo, Hi).
type Bin struct {
	Lo            Float `json:"lo"`
	Hi            Float `json:"hi"`
	N             int   `json:"n"`
	MeanPredicted Float `json:"mean_predicted"`
	ObservedHusky Float `json:"observed_husky"`
}

// SweepPoint is the main metrics at one threshold.
type SweepPoint struct {
	Threshold        Float `json:"threshold"`
	TP               int   `json:"tp"`
	FP               int   `json:"fp"`
	TN               int   `json:"tn"`
	FN               int   `json:"fn"`
	Precision        Float `json:"precision"`
	Recall           Float `json:"recall"`
	Specificity      Float `json:"specificity"`
	BalancedAccuracy Float `json:"balanced_accuracy"`
}

// Miss is a sample called the wrong class.
type Miss struct {
	File        string `json:"file"`
	Category    string `json:"category"`
	Husky       bool   `json:"husky"`
	Probability Float  `json:"probability"`
}

// Compute evaluates samples at threshold: a sample is called a husky when
// its probability is above threshold.
func Compute(samples []Sample, threshold float64, opt Options) Report {
	opt = opt.withDefaults()
	r := Report{N: len(samples), Threshold: Float(threshold), Bootstrap: opt.Bootstrap, Seed: opt.Seed}
	var c Confusion
	for _, s := range samples {
		if s.Husky {
			r.NHusky++
		}
		switch pred := s.Probability > threshold; {
		case s.Husky && pred:
			c.TP++
		case s.Husky:
			c.FN++
		case pred:
			c.FP++
		default:
			c.TN++
		}
	}
	r.NOther = r.N - r.NHusky
	r.Confusion = c
	r.Accuracy = NewProportion(c.TP+c.TN, r.N)
	r.Precision = NewProportion(c.TP, c.TP+c.FP)
	r.Recall = NewProportion(c.TP, c.TP+c.FN)
	r.Specificity = NewProportion(c.TN, c.TN+c.FP)
	r.F1 = Float(ratio(2*c.TP, 2*c.TP+c.FP+c.FN))

	g := newGroups(samples, threshold)
	ba, auc := g.metrics(g.pos, g.neg)
	r.BalancedAccuracy.Value, r.ROCAUC.Value = Float(ba), Float(auc)
	r.BalancedAccuracy.Lo, r.BalancedAccuracy.Hi = nan, nan
	r.ROCAUC.Lo, r.ROCAUC.Hi = nan, nan
	if opt.Bootstrap > 0 && r.NHusky > 0 && r.NOther > 0 {
		bas, aucs := g.bootstrap(opt.Bootstrap, opt.Seed)
		lo, hi := (1-Confidence)/2, 1-(1-Confidence)/2
		r.BalancedAccuracy.Lo, r.BalancedAccuracy.Hi = Float(quantile(bas, lo)), Float(quantile(bas, hi))
		r.ROCAUC.Lo, r.ROCAUC.Hi = Float(quantile(aucs, lo)), Float(quantile(aucs, hi))
	}

	r.Categories = categories(samples, threshold)
	r.Calibration = calibrate(samples, opt.Bins)
	r.Sweep = sweep(samples, threshold)
	r.TopErrors = topErrors(samples, threshold, opt.TopErrors)
	return r
}

var nan = Float(math.NaN())

// ratio is k/n, NaN when n is zero.
func ratio(k, n int) float64 {
	if n == 0 {
		return math.NaN()
	}
	return float64(k) / float64(n)
}

// Wilson returns the 95% Wilson score interval of the proportion k/n;
// NaN, NaN when n is zero.
func Wilson(k, n int) (lo, hi float64) {
	if n <= 0 {
		return math.NaN(), math.NaN()
	}
	nf := float64(n)
	p := float64(k) / nf
	z2 := z * z
	den := 1 + z2/nf
	center := (p + z2/(2*nf)) / den
	half := z / den * math.Sqrt(p*(1-p)/nf+z2/(4*nf*nf))
	return max(0, center-half), min(1, center+half)
}

// groups are the samples sorted by probability, equal probabilities
// merged, with the number of huskies (pos) and others (neg) of each: the
// form in which a bootstrap resample is a new pair of counts.
type groups struct {
	above    []bool // the group's probability is above the threshold
	pos, neg []int  // samples per group
	posIdx   []int  // group of each husky sample
	negIdx   []int  // group of each other sample
}

func newGroups(samples []Sample, threshold float64) *groups {
	order := make([]int, len(samples))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(samples[a].Probability, samples[b].Probability)
	})
	g := &groups{}
	for k, i := range order {
		p := samples[i].Probability
		if k == 0 || p != samples[order[k-1]].Probability {
			g.above = append(g.above, p > threshold)
			g.pos = append(g.pos, 0)
			g.neg = append(g.neg, 0)
		}
		last := len(g.above) - 1
		if samples[i].Husky {
			g.pos[last]++
			g.posIdx = append(g.posIdx, last)
		} else {
			g.neg[last]++
			g.negIdx = append(g.negIdx, last)
		}
	}
	return g
}

// metrics returns the balanced accuracy and ROC AUC of samples counted
// per group as pos and neg.
func (g *groups) metrics(pos, neg []int) (ba, auc float64) {
	var nPos, nNeg, tp, tn int
	var u, negBelow float64
	for i := range pos {
		u += float64(pos[i]) * (negBelow + float64(neg[i])/2)
		negBelow += float64(neg[i])
		nPos += pos[i]
		nNeg += neg[i]
		if g.above[i] {
			tp += pos[i]
		} else {
			tn += neg[i]
		}
	}
	ba = (ratio(tp, nPos) + ratio(tn, nNeg)) / 2
	auc = u / (float64(nPos) * float64(nNeg))
	if nPos == 0 || nNeg == 0 {
		auc = math.NaN()
	}
	return ba, auc
}

// bootstrap draws n stratified resamples — as many huskies from the
// huskies and others from the others as there are, with replacement —
// and returns the balanced accuracy and ROC AUC of each.
func (g *groups) bootstrap(n int, seed uint64) (bas, aucs []float64) {
	rng := rand.New(rand.NewPCG(seed, 0x6875736b79616921)) // "huskyai!"
	pos, neg := make([]int, len(g.pos)), make([]int, len(g.neg))
	bas, aucs = make([]float64, n), make([]float64, n)
	for b := range n {
		clear(pos)
		clear(neg)
		for range g.posIdx {
			pos[g.posIdx[rng.IntN(len(g.posIdx))]]++
		}
		for range g.negIdx {
			neg[g.negIdx[rng.IntN(len(g.negIdx))]]++
		}
		bas[b], aucs[b] = g.metrics(pos, neg)
	}
	return bas, aucs
}

// quantile returns the q-quantile of xs by linear interpolation between
// order statistics (type 7 of Hyndman and Fan, R's default); it sorts xs.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	slices.Sort(xs)
	h := q * float64(len(xs)-1)
	i := int(math.Floor(h))
	if i >= len(xs)-1 {
		return xs[len(xs)-1]
	}
	return xs[i] + (h-float64(i))*(xs[i+1]-xs[i])
}

func categoryName(s Sample) string {
	if s.Category != "" {
		return s.Category
	}
	if s.Husky {
		return "husky"
	}
	return "other"
}

func categories(samples []Sample, threshold float64) []Category {
	index := map[string]int{}
	cats := []Category{}
	sums := []float64{}
	for _, s := range samples {
		name := categoryName(s)
		i, ok := index[name]
		if !ok {
			i = len(cats)
			index[name] = i
			cats = append(cats, Category{Name: name, Husky: s.Husky})
			sums = append(sums, 0)
		}
		cats[i].N++
		sums[i] += s.Probability
		if (s.Probability > threshold) != s.Husky {
			cats[i].Errors++
		}
	}
	for i := range cats {
		cats[i].ErrorRate = NewProportion(cats[i].Errors, cats[i].N).Interval
		cats[i].MeanProbability = Float(sums[i] / float64(cats[i].N))
	}
	slices.SortFunc(cats, func(a, b Category) int { return cmp.Compare(a.Name, b.Name) })
	return cats
}

func calibrate(samples []Sample, bins int) Calibration {
	n := make([]int, bins)
	sumP := make([]float64, bins)
	husky := make([]int, bins)
	var brier float64
	for _, s := range samples {
		p := s.Probability
		if !(p >= 0) {
			p = 0
		}
		p = min(p, 1)
		b := min(int(p*float64(bins)), bins-1)
		n[b]++
		sumP[b] += s.Probability
		y := 0.0
		if s.Husky {
			husky[b]++
			y = 1
		}
		brier += (s.Probability - y) * (s.Probability - y)
	}
	c := Calibration{Bins: make([]Bin, bins)}
	var ece float64
	for b := range bins {
		mean, obs := math.NaN(), ratio(husky[b], n[b])
		if n[b] > 0 {
			mean = sumP[b] / float64(n[b])
			ece += float64(n[b]) * math.Abs(mean-obs)
		}
		c.Bins[b] = Bin{Lo: Float(float64(b) / float64(bins)), Hi: Float(float64(b+1) / float64(bins)),
			N: n[b], MeanPredicted: Float(mean), ObservedHusky: Float(obs)}
	}
	c.ECE = Float(ece / float64(len(samples)))
	c.Brier = Float(brier / float64(len(samples)))
	return c
}

// SweepThresholds returns the thresholds of Report.Sweep: 0.05, 0.10, …,
// 0.95 and threshold, in increasing order without duplicates.
func SweepThresholds(threshold float64) []float64 {
	ts := []float64{}
	for k := 1; k < 20; k++ {
		ts = append(ts, float64(k)/20)
	}
	i, found := slices.BinarySearch(ts, threshold)
	if !found && !(i > 0 && threshold-ts[i-1] < 1e-12) && !(i < len(ts) && ts[i]-threshold < 1e-12) {
		ts = slices.Insert(ts, i, threshold)
	}
	return ts
}

func sweep(samples []Sample, threshold float64) []SweepPoint {
	var pts []SweepPoint
	for _, t := range SweepThresholds(threshold) {
		p := SweepPoint{Threshold: Float(t)}
		for _, s := range samples {
			switch pred := s.Probability > t; {
			case s.Husky && pred:
				p.TP++
			case s.Husky:
				p.FN++
			case pred:
				p.FP++
			default:
				p.TN++
			}
		}
		rec, spec := ratio(p.TP, p.TP+p.FN), ratio(p.TN, p.TN+p.FP)
		p.Precision = Float(ratio(p.TP, p.TP+p.FP))
		p.Recall, p.Specificity = Float(rec), Float(spec)
		p.BalancedAccuracy = Float((rec + spec) / 2)
		pts = append(pts, p)
	}
	return pts
}

func topErrors(samples []Sample, threshold float64, n int) []Miss {
	misses := []Miss{}
	for _, s := range samples {
		if (s.Probability > threshold) != s.Husky {
			misses = append(misses, Miss{File: s.File, Category: categoryName(s), Husky: s.Husky, Probability: Float(s.Probability)})
		}
	}
	// The farther from the threshold on the wrong side, the more confident.
	slices.SortStableFunc(misses, func(a, b Miss) int {
		da, db := math.Abs(float64(a.Probability)-threshold), math.Abs(float64(b.Probability)-threshold)
		return cmp.Or(-cmp.Compare(da, db), cmp.Compare(a.File, b.File))
	})
	return misses[:min(n, len(misses))]
}
