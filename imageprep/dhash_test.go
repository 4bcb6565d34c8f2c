package imageprep

import (
	"math/bits"
	"math/rand/v2"
	"testing"
)

// sceneRGB returns a w x h image of a diagonal gradient with a bright
// disc, the kind of smooth content photos have.
func sceneRGB(w, h int) *RGB {
	m := NewRGB(w, h)
	for y := range h {
		for x := range w {
			p := m.Pix[3*(y*w+x):]
			p[0], p[1], p[2] = uint8(40+150*x/w), uint8(30+120*y/h), uint8(90+60*(x+y)/(w+h))
			if dx, dy := x-w/3, y-h/2; dx*dx+dy*dy < (h/4)*(h/4) {
				p[0], p[1], p[2] = 230, 220, 200
			}
		}
	}
	return m
}

// blocksRGB returns a w x h image of 6 x 6 random blocks, different for
// each seed.
func blocksRGB(w, h int, seed uint64) *RGB {
	r := rand.New(rand.NewPCG(seed, 7))
	var cells [6][6][3]uint8
	for i := range cells {
		for j := range cells[i] {
			for k := range 3 {
				cells[i][j][k] = uint8(r.IntN(256))
			}
		}
	}
	m := NewRGB(w, h)
	for y := range h {
		for x := range w {
			c := cells[6*y/h][6*x/w]
			copy(m.Pix[3*(y*w+x):], c[:])
		}
	}
	return m
}

// perturb returns a copy of m with n pixels, chosen by seed, changed by
// +3 or -3 in each channel (clamped).
func perturb(m *RGB, n int, seed uint64) *RGB {
	r := rand.New(rand.NewPCG(seed, 11))
	c := &RGB{Width: m.Width, Height: m.Height, Pix: append([]uint8(nil), m.Pix...)}
	for range n {
		i := 3 * r.IntN(m.Width*m.Height)
		for k := range 3 {
			v := int(c.Pix[i+k]) + 3 - 6*r.IntN(2)
			c.Pix[i+k] = uint8(min(max(v, 0), 255))
		}
	}
	return c
}

func distance(a, b uint64) int { return bits.OnesCount64(a ^ b) }

func TestDHash(t *testing.T) {
	scene := sceneRGB(128, 128)
	for _, tt := range []struct {
		name    string
		a, b    *RGB
		minDist int
		maxDist int
	}{
		{"same image", scene, sceneRGB(128, 128), 0, 0},
		{"a few pixels +-3", scene, perturb(scene, 20, 1), 0, 2},
		{"many pixels +-3", scene, perturb(scene, 2000, 2), 0, 4},
		{"other size, same scene", scene, sceneRGB(300, 200), 0, 6},
		{"mirrored content", scene, mirror(scene), 20, 64},
		{"scene and random blocks", scene, blocksRGB(128, 128, 1), 14, 64},
		{"two random block images", blocksRGB(128, 128, 2), blocksRGB(128, 128, 3), 14, 64},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := distance(tt.a.DHash(), tt.b.DHash())
			if d < tt.minDist || d > tt.maxDist {
				t.Errorf("distance %d (%016x, %016x), want %d..%d", d, tt.a.DHash(), tt.b.DHash(), tt.minDist, tt.maxDist)
			}
		})
	}
}

// mirror returns m flipped left to right.
func mirror(m *RGB) *RGB {
	c := NewRGB(m.Width, m.Height)
	for y := range m.Height {
		for x := range m.Width {
			copy(c.Pix[3*(y*m.Width+x):][:3], m.Pix[3*(y*m.Width+m.Width-1-x):])
		}
	}
	return c
}

// TestDHashDegenerate: tiny and empty images hash without a panic; a flat
// image hashes to 0 (no cell is brighter than its neighbour), and an image
// smaller than the 9 x 8 cells still gets a hash from its content.
func TestDHashDegenerate(t *testing.T) {
	falling := &RGB{Width: 3, Height: 2, Pix: []uint8{200, 200, 200, 100, 100, 100, 0, 0, 0, 200, 200, 200, 100, 100, 100, 0, 0, 0}}
	for _, tt := range []struct {
		name string
		m    *RGB
		// everyRow: each row of the hash has a bit set, else the hash is 0.
		everyRow bool
	}{
		{"empty", &RGB{}, false},
		{"short Pix", &RGB{Width: 4, Height: 4, Pix: make([]uint8, 5)}, false},
		{"1x1", NewRGB(1, 1), false},
		{"flat 64x64", NewRGB(64, 64), false},
		{"3x2 falling left to right", falling, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.m.DHash()
			if !tt.everyRow {
				if got != 0 {
					t.Errorf("DHash = %016x, want 0", got)
				}
				return
			}
			for r := range 8 {
				if got>>(8*r)&0xff == 0 {
					t.Errorf("row %d of %016x has no bit set", r, got)
				}
			}
		})
	}
}
