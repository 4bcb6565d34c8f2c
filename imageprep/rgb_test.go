package imageprep

import "testing"

// TestCenterCrop: the central square of a fraction of the shorter side,
// rounded, centred (the odd pixel on the right and bottom).
func TestCenterCrop(t *testing.T) {
	m := NewRGB(6, 4)
	for i := range m.Pix {
		m.Pix[i] = uint8(i / 3) // pixel index in every channel
	}
	for _, tc := range []struct {
		fraction float64
		side     int
		first    uint8 // the index of the crop's top-left pixel in m
	}{
		{1, 4, 1},     // 4x4 from column 1
		{0.5, 2, 8},   // 2x2 from row 1, column 2
		{0.875, 4, 1}, // round(3.5) = 4
		{0.01, 1, 8},  // at least one pixel: row 1, column 2
	} {
		c := m.CenterCrop(tc.fraction)
		if c.Width != tc.side || c.Height != tc.side || len(c.Pix) != 3*tc.side*tc.side {
			t.Fatalf("%v: %dx%d, want %dx%[3]d", tc.fraction, c.Width, c.Height, tc.side)
		}
		if c.Pix[0] != tc.first || c.Pix[len(c.Pix)-1] != tc.first+uint8((tc.side-1)*7) {
			t.Errorf("%v: corners %d, %d; want %d, %d", tc.fraction, c.Pix[0], c.Pix[len(c.Pix)-1], tc.first, tc.first+uint8((tc.side-1)*7))
		}
	}
}
