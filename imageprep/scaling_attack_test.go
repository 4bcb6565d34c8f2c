package imageprep

// Image-scaling attack resistance (Xiao et al., "Seeing is Not Believing",
// USENIX Security 2019; Quiring et al., "Adversarial Preprocessing",
// USENIX Security 2020).
//
// A scaling attack hides a small target image in a large decoy: only the
// source pixels a non-antialiased downscaler reads are overwritten with the
// target, so a person sees the decoy while the model, after the resize,
// sees the target. The test builds such an image against two such scalers,
// implemented here:
//
//   - nearest neighbour, as Keras' flow_from_directory (PIL NEAREST) reads:
//     source index floor((x+0.5)*scale);
//   - OpenCV's default cv2.resize INTER_LINEAR (no antialiasing): source
//     coordinate (x+0.5)*scale-0.5, two taps per axis, so only a 2x2 block
//     of source pixels per output pixel matters.
//
// It checks that the attack is real (both attacked scalers return the
// target) and that Resize, with every filter, returns the decoy: Pillow's
// antialiased resampling widens the kernel by the scale factor, so the
// planted pixels are averaged with all the others and only leak in
// proportion to their share of the image (4 of every scale^2 pixels here).

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
)

const attackSize = 128 // the model's input size

// attackDecoy is a smooth, mid-tone, colourful w x h image (what a person
// sees): slow gradients and a gentle wave, nothing near the target's pure
// black and white.
func attackDecoy(w, h int) *RGB {
	m := NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			fx, fy := float64(x)/float64(w), float64(y)/float64(h)
			p := m.Pix[3*(y*w+x):]
			p[0] = uint8(70 + 110*fx)
			p[1] = uint8(80 + 90*fy)
			p[2] = uint8(128 + 50*math.Sin(2*math.Pi*(fx+fy)))
		}
	}
	return m
}

// attackTarget is what the attacker wants the model to see: a 128x128
// black-and-white checkerboard of 16-pixel cells with a white diagonal
// bar, far from the decoy everywhere.
func attackTarget() *RGB {
	m := NewRGB(attackSize, attackSize)
	for y := 0; y < attackSize; y++ {
		for x := 0; x < attackSize; x++ {
			v := uint8(0)
			if (x/16+y/16)%2 == 0 || (x-y < 6 && y-x < 6) {
				v = 255
			}
			p := m.Pix[3*(y*attackSize+x):]
			p[0], p[1], p[2] = v, v, v
		}
	}
	return m
}

// nearestIndex is the source index PIL's NEAREST (and so Keras'
// flow_from_directory) reads for output index x when reducing by scale.
func nearestIndex(x, scale int) int {
	return int(math.Floor((float64(x) + 0.5) * float64(scale)))
}

// linearTaps is cv2.resize INTER_LINEAR's pair of source indices and the
// weight of the second for output index x (no antialiasing): the source
// coordinate is (x+0.5)*scale-0.5, clamped to the image.
func linearTaps(x, scale, n int) (i0, i1 int, f float64) {
	s := (float64(x)+0.5)*float64(scale) - 0.5
	fl := math.Floor(s)
	i0, f = int(fl), s-fl
	i1 = i0 + 1
	i0, i1 = max(0, min(n-1, i0)), max(0, min(n-1, i1))
	return i0, i1, f
}

// nearestDownscale is the point-sampling scaler.
func nearestDownscale(src *RGB, w, h int) *RGB {
	scale := src.Width / w
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		sy := nearestIndex(y, scale)
		for x := 0; x < w; x++ {
			sx := nearestIndex(x, scale)
			copy(out.Pix[3*(y*w+x):][:3], src.Pix[3*(sy*src.Width+sx):])
		}
	}
	return out
}

// cvLinearDownscale is cv2.resize(src, (w, h)) with its default
// INTER_LINEAR: a 2x2-tap bilinear interpolation, rounded to nearest.
func cvLinearDownscale(src *RGB, w, h int) *RGB {
	scale := src.Width / w
	out := NewRGB(w, h)
	for y := 0; y < h; y++ {
		y0, y1, fy := linearTaps(y, scale, src.Height)
		for x := 0; x < w; x++ {
			x0, x1, fx := linearTaps(x, scale, src.Width)
			for c := 0; c < 3; c++ {
				at := func(sx, sy int) float64 { return float64(src.Pix[3*(sy*src.Width+sx)+c]) }
				v := (1-fy)*((1-fx)*at(x0, y0)+fx*at(x1, y0)) + fy*((1-fx)*at(x0, y1)+fx*at(x1, y1))
				out.Pix[3*(y*w+x)+c] = uint8(math.Round(v))
			}
		}
	}
	return out
}

// scalingAttack returns decoy with target planted on exactly the pixels
// the two attacked scalers read: the 2x2 block of cv2 INTER_LINEAR's taps
// for each output pixel, which contains NEAREST's sample (index
// floor((x+0.5)*s) is one of the two linear taps for s >= 2).
func scalingAttack(decoy, target *RGB) *RGB {
	scale := decoy.Width / target.Width
	a := &RGB{Width: decoy.Width, Height: decoy.Height, Pix: append([]uint8(nil), decoy.Pix...)}
	for y := 0; y < target.Height; y++ {
		y0, y1, _ := linearTaps(y, scale, decoy.Height)
		for x := 0; x < target.Width; x++ {
			x0, x1, _ := linearTaps(x, scale, decoy.Width)
			t := target.Pix[3*(y*target.Width+x):][:3]
			for _, sy := range []int{y0, y1} {
				for _, sx := range []int{x0, x1} {
					copy(a.Pix[3*(sy*decoy.Width+sx):], t)
				}
			}
		}
	}
	return a
}

// meanAbsDiff is the mean absolute difference of two same-size images, in
// 8-bit levels over all channels.
func meanAbsDiff(t *testing.T, a, b *RGB) float64 {
	t.Helper()
	if a.Width != b.Width || a.Height != b.Height {
		t.Fatalf("sizes differ: %dx%d and %dx%d", a.Width, a.Height, b.Width, b.Height)
	}
	var sum int
	for i := range a.Pix {
		d := int(a.Pix[i]) - int(b.Pix[i])
		sum += max(d, -d)
	}
	return float64(sum) / float64(len(a.Pix))
}

func writeAttackPNG(t *testing.T, dir, name string, m *RGB) string {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		copy(img.Pix[4*i:], m.Pix[3*i:3*i+3])
		img.Pix[4*i+3] = 255
	}
	path := filepath.Join(dir, name)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// attackResize is the resize under test; a variable so that a check can
// make sure the test notices a point-sampling replacement.
var attackResize = Resize

// TestScalingAttack builds a scaling-attack image for 5x (640x640) and 10x
// (1280x1280) reductions to 128x128 and checks that the non-antialiased
// scalers fall for it while Resize does not.
//
// Set IMAGEPREP_ATTACK_DIR to keep the PNGs (decoy, target, attack image,
// and every downscale) in that folder instead of a temporary one.
func TestScalingAttack(t *testing.T) {
	// Thresholds, from measurements (mean absolute difference in 8-bit
	// levels over the 128x128x3 values; the log prints the current ones):
	//
	//   - the target is 127.55 from the decoy (bicubic-resized).
	//   - attacked scalers vs the target: measured 0.00 (the planted pixels
	//     are all they read); required < 2. Their distance from the decoy:
	//     127.55; required > 60.
	//   - Resize(attack) vs Resize(decoy), same filter: the planted pixels
	//     are 4/s^2 of the image, so they leak about 4/s^2 of the 127.55
	//     contrast: measured 5.06-5.10 at 10x and 19.98-20.37 at 5x over
	//     the three filters (4/100*127.55 = 5.10, 4/25*127.55 = 20.41);
	//     required < 8 at 10x and < 24 at 5x.
	//   - Resize(attack) vs the target: measured 122.45-122.49 at 10x and
	//     107.18-107.57 at 5x; required > 60 and at least 4 times the
	//     distance to the decoy.
	//
	// All of it is deterministic integer/float64 arithmetic, so the
	// figures do not vary between runs. Replacing Resize by point sampling
	// (nearest or cv2-style linear, via attackResize) fails every filter's
	// check (127.55 from the decoy, 0 from the target).
	target := attackTarget()
	for _, tc := range []struct {
		scale    int
		maxDecoy float64 // bound on Resize(attack) vs Resize(decoy)
	}{
		{scale: 10, maxDecoy: 8},
		{scale: 5, maxDecoy: 24},
	} {
		t.Run(fmt.Sprintf("%dx", tc.scale), func(t *testing.T) {
			dir := os.Getenv("IMAGEPREP_ATTACK_DIR")
			if dir == "" {
				dir = t.TempDir()
			} else if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			n := attackSize * tc.scale
			decoy := attackDecoy(n, n)
			attack := scalingAttack(decoy, target)
			pfx := fmt.Sprintf("%dx_", tc.scale)
			writeAttackPNG(t, dir, pfx+"decoy.png", decoy)
			writeAttackPNG(t, dir, pfx+"target.png", target)
			t.Logf("attack image: %s", writeAttackPNG(t, dir, pfx+"attack.png", attack))
			base := meanAbsDiff(t, Resize(decoy, attackSize, attackSize, Bicubic), target)
			t.Logf("decoy (bicubic) vs target: %.2f", base)

			// (a) The attack is real: the attacked scalers see the target.
			for _, s := range []struct {
				name string
				fn   func(*RGB, int, int) *RGB
			}{{"nearest", nearestDownscale}, {"cv2_linear", cvLinearDownscale}} {
				got := s.fn(attack, attackSize, attackSize)
				path := writeAttackPNG(t, dir, pfx+s.name+".png", got)
				dt, dd := meanAbsDiff(t, got, target), meanAbsDiff(t, got, s.fn(decoy, attackSize, attackSize))
				t.Logf("%-10s vs target %6.2f, vs decoy %6.2f  %s", s.name, dt, dd, path)
				if dt >= 2 {
					t.Errorf("%s: attack image downscales to %.2f levels from the target, want < 2 (the attack is not real)", s.name, dt)
				}
				if dd <= 60 {
					t.Errorf("%s: attack image downscales to %.2f levels from the decoy, want > 60", s.name, dd)
				}
			}

			// (b) Resize is not fooled: it sees the decoy.
			for _, f := range []Filter{Bicubic, Bilinear, Box} {
				got := attackResize(attack, attackSize, attackSize, f)
				path := writeAttackPNG(t, dir, pfx+"resize_"+f.String()+".png", got)
				dd := meanAbsDiff(t, got, Resize(decoy, attackSize, attackSize, f))
				dt := meanAbsDiff(t, got, target)
				t.Logf("%-10s vs target %6.2f, vs decoy %6.2f  %s", f, dt, dd, path)
				if dd >= tc.maxDecoy {
					t.Errorf("%v: attack image resizes to %.2f levels from the decoy, want < %v", f, dd, tc.maxDecoy)
				}
				if dt <= 60 || dt < 4*dd {
					t.Errorf("%v: attack image resizes to %.2f levels from the target (%.2f from the decoy), want > 60 and >= 4x the decoy distance", f, dt, dd)
				}
			}
		})
	}
}
