package evaluate

import (
	"bytes"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
)

// The original Husky AI called solid grey images and noise huskies. The
// probes are those images, generated the same way every time.

// Kinds of probe images.
const (
	// ProbeGrey are solid images of each grey shade, 0 to 255.
	ProbeGrey = "grey"
	// ProbeUniform are RGB images of independent uniform bytes.
	ProbeUniform = "uniform_noise"
	// ProbeGaussian are RGB images of independent Gaussian values, mean
	// ProbeMean and standard deviation ProbeSD, rounded and clipped to
	// 0..255.
	ProbeGaussian = "gaussian_noise"
)

// Shape and number of the probe images.
const (
	// ProbeSize is the width and height of every probe image.
	ProbeSize = 128
	// NumGrey is the number of grey probes, NumNoise that of each kind of
	// noise.
	NumGrey  = 256
	NumNoise = 1000
	// NumProbes is the number of images Probes returns.
	NumProbes = NumGrey + 2*NumNoise
)

// Parameters of the Gaussian noise.
const (
	ProbeMean = 127.5
	ProbeSD   = 64
)

// ProbeSeed seeds the noise: image i of a kind draws from a PCG seeded
// with ProbeSeed and the kind and i, so each image can be made alone.
const ProbeSeed = 0x48757368

// Probe is one generated probe image, made by Image or PNG.
type Probe struct {
	// Kind is ProbeGrey, ProbeUniform or ProbeGaussian.
	Kind string
	// Index is the grey shade, or the number of the noise image.
	Index int
}

// Probes lists every probe: the NumGrey grey shades, then NumNoise
// uniform and NumNoise Gaussian noise images.
func Probes() []Probe {
	ps := make([]Probe, 0, NumProbes)
	for i := range NumGrey {
		ps = append(ps, Probe{ProbeGrey, i})
	}
	for i := range NumNoise {
		ps = append(ps, Probe{ProbeUniform, i})
	}
	for i := range NumNoise {
		ps = append(ps, Probe{ProbeGaussian, i})
	}
	return ps
}

// Name names the probe as "grey/127" or "uniform_noise/0042".
func (p Probe) Name() string {
	if p.Kind == ProbeGrey {
		return fmt.Sprintf("%s/%d", p.Kind, p.Index)
	}
	return fmt.Sprintf("%s/%04d", p.Kind, p.Index)
}

// Image generates the probe's opaque ProbeSize×ProbeSize image. It panics
// on a Probe that Probes does not list.
func (p Probe) Image() *image.RGBA {
	m := image.NewRGBA(image.Rect(0, 0, ProbeSize, ProbeSize))
	var stream uint64
	switch p.Kind {
	case ProbeGrey:
		if p.Index < 0 || p.Index >= NumGrey {
			panic(fmt.Sprintf("evaluate: grey probe %d is outside 0..255", p.Index))
		}
		for i := 0; i < len(m.Pix); i += 4 {
			v := uint8(p.Index)
			m.Pix[i], m.Pix[i+1], m.Pix[i+2], m.Pix[i+3] = v, v, v, 255
		}
		return m
	case ProbeUniform:
		stream = 1
	case ProbeGaussian:
		stream = 2
	default:
		panic(fmt.Sprintf("evaluate: unknown probe kind %q", p.Kind))
	}
	if p.Index < 0 || p.Index >= NumNoise {
		panic(fmt.Sprintf("evaluate: %s probe %d is outside 0..%d", p.Kind, p.Index, NumNoise-1))
	}
	rng := rand.New(rand.NewPCG(ProbeSeed, stream<<32|uint64(p.Index)))
	for i := 0; i < len(m.Pix); i += 4 {
		if p.Kind == ProbeUniform {
			v := rng.Uint32()
			m.Pix[i], m.Pix[i+1], m.Pix[i+2] = uint8(v), uint8(v>>8), uint8(v>>16)
		} else {
			for c := range 3 {
				v := math.Round(ProbeMean + ProbeSD*rng.NormFloat64())
				m.Pix[i+c] = uint8(min(max(v, 0), 255))
			}
		}
		m.Pix[i+3] = 255
	}
	return m
}

// PNG returns the probe image encoded as PNG, as an upload would be.
func (p Probe) PNG() ([]byte, error) {
	var buf bytes.Buffer
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	if err := enc.Encode(&buf, p.Image()); err != nil {
		return nil, fmt.Errorf("probe %s: %w", p.Name(), err)
	}
	return buf.Bytes(), nil
}

// ProbeResult is how a classifier scored one kind of probe. A husky
// detector should score none of them above the threshold.
type ProbeResult struct {
	Kind string `json:"kind"`
	N    int    `json:"n"`
	// AboveThreshold is the number of probes called huskies.
	AboveThreshold  int   `json:"above_threshold"`
	MeanProbability Float `json:"mean_probability"`
	MaxProbability  Float `json:"max_probability"`
	// MaxProbe names the probe of the highest probability (Probe.Name).
	MaxProbe string `json:"max_probe"`
}

// ScoreProbes sums up the probabilities probs of probes, probs[i] being
// that of probes[i], per kind in the order the kinds first appear. It
// panics if the lengths differ.
func ScoreProbes(probes []Probe, probs []float64, threshold float64) []ProbeResult {
	if len(probes) != len(probs) {
		panic(fmt.Sprintf("evaluate: ScoreProbes: %d probes, %d probabilities", len(probes), len(probs)))
	}
	index := map[string]int{}
	res := []ProbeResult{}
	sums := []float64{}
	for i, p := range probes {
		k, ok := index[p.Kind]
		if !ok {
			k = len(res)
			index[p.Kind] = k
			res = append(res, ProbeResult{Kind: p.Kind, MaxProbability: Float(math.Inf(-1))})
			sums = append(sums, 0)
		}
		r := &res[k]
		r.N++
		sums[k] += probs[i]
		if probs[i] > threshold {
			r.AboveThreshold++
		}
		if probs[i] > float64(r.MaxProbability) {
			r.MaxProbability, r.MaxProbe = Float(probs[i]), p.Name()
		}
	}
	for k := range res {
		res[k].MeanProbability = Float(sums[k] / float64(res[k].N))
	}
	return res
}
