package evaluate

import (
	"bytes"
	"image/png"
	"math"
	"testing"

	"github.com/huskyai/huskyai/imageprep"
)

func TestProbes(t *testing.T) {
	ps := Probes()
	if len(ps) != 2256 || NumProbes != 2256 {
		t.Fatalf("%d probes, want 2256", len(ps))
	}
	names := map[string]bool{}
	kinds := map[string]int{}
	for _, p := range ps {
		names[p.Name()] = true
		kinds[p.Kind]++
	}
	if len(names) != len(ps) || kinds[ProbeGrey] != 256 || kinds[ProbeUniform] != 1000 || kinds[ProbeGaussian] != 1000 {
		t.Errorf("%d distinct names, kinds %v", len(names), kinds)
	}
	if n := ps[300].Name(); n != "uniform_noise/0044" {
		t.Errorf("probe 300 is %s", n)
	}

	grey := Probe{ProbeGrey, 200}.Image()
	if b := grey.Bounds(); b.Dx() != ProbeSize || b.Dy() != ProbeSize {
		t.Errorf("grey probe is %v", b)
	}
	for i, v := range grey.Pix {
		if want := map[bool]uint8{true: 255, false: 200}[i%4 == 3]; v != want {
			t.Fatalf("grey/200 byte %d is %d, want %d", i, v, want)
		}
	}

	for _, kind := range []string{ProbeUniform, ProbeGaussian} {
		a, b, c := Probe{kind, 5}.Image(), Probe{kind, 5}.Image(), Probe{kind, 6}.Image()
		if !bytes.Equal(a.Pix, b.Pix) {
			t.Errorf("%s/5 differs between two calls", kind)
		}
		if bytes.Equal(a.Pix, c.Pix) {
			t.Errorf("%s/5 and %s/6 are the same", kind, kind)
		}
		var sum, sq float64
		n := 0
		for i, v := range a.Pix {
			if i%4 == 3 {
				if v != 255 {
					t.Fatalf("%s alpha %d", kind, v)
				}
				continue
			}
			sum += float64(v)
			sq += float64(v) * float64(v)
			n++
		}
		mean := sum / float64(n)
		sd := math.Sqrt(sq/float64(n) - mean*mean)
		// Uniform bytes: mean 127.5, sd 73.9; Gaussian clipped at 2 sd:
		// mean 127.5, sd a little under 64.
		wantSD := map[string]float64{ProbeUniform: 73.9, ProbeGaussian: 61}[kind]
		if math.Abs(mean-127.5) > 1.5 || math.Abs(sd-wantSD) > 2 {
			t.Errorf("%s/5: mean %.2f sd %.2f, want 127.5 and about %.1f", kind, mean, sd, wantSD)
		}
	}

	// The PNG decodes, through imageprep as an upload, to the same pixels.
	p := Probe{ProbeGaussian, 999}
	data, err := p.PNG()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	rgb, format, err := imageprep.Decode(data, 0)
	if err != nil || format != "png" {
		t.Fatalf("imageprep.Decode: %q, %v", format, err)
	}
	img := p.Image()
	for i := range ProbeSize * ProbeSize {
		if !bytes.Equal(rgb.Pix[3*i:3*i+3], img.Pix[4*i:4*i+3]) {
			t.Fatalf("pixel %d: decoded %v, generated %v", i, rgb.Pix[3*i:3*i+3], img.Pix[4*i:4*i+3])
		}
	}
}

func TestScoreProbes(t *testing.T) {
	ps := []Probe{{ProbeGrey, 0}, {ProbeGrey, 1}, {ProbeUniform, 0}, {ProbeGrey, 2}}
	got := ScoreProbes(ps, []float64{0.2, 0.7, 0.4, 0.6}, 0.6)
	want := []ProbeResult{
		{Kind: ProbeGrey, N: 3, AboveThreshold: 1, MeanProbability: 0.5, MaxProbability: 0.7, MaxProbe: "grey/1"},
		{Kind: ProbeUniform, N: 1, AboveThreshold: 0, MeanProbability: 0.4, MaxProbability: 0.4, MaxProbe: "uniform_noise/0000"},
	}
	if len(got) != len(want) {
		t.Fatalf("ScoreProbes = %+v", got)
	}
	for i := range want {
		g := got[i]
		if g.Kind != want[i].Kind || g.N != want[i].N || g.AboveThreshold != want[i].AboveThreshold ||
			!near(float64(g.MeanProbability), float64(want[i].MeanProbability), 1e-12) ||
			g.MaxProbability != want[i].MaxProbability || g.MaxProbe != want[i].MaxProbe {
			t.Errorf("result %d = %+v, want %+v", i, g, want[i])
		}
	}
}
