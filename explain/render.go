package explain

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"

	"github.com/huskyai/huskyai/imageprep"
)

// regionNames names the nine regions of a picture, by thirds of its
// height and width.
var regionNames = [3][3]string{
	{"top-left", "top", "top-right"},
	{"left", "centre", "right"},
	{"bottom-left", "bottom", "bottom-right"},
}

// Regions sums the values of the map's cells over the nine regions of the
// picture (thirds of its height and width; a cell belongs to the region
// its centre lies in).
func (m *Map) Regions() [3][3]float32 {
	var out [3][3]float32
	for r := range m.Rows {
		ry := min(2, (2*r+1)*3/(2*m.Rows))
		for c := range m.Cols {
			rx := min(2, (2*c+1)*3/(2*m.Cols))
			out[ry][rx] += m.Values[r*m.Cols+c]
		}
	}
	return out
}

// Summary says in words which region of the picture raised the husky
// probability most and which lowered it most: the text alternative of the
// heatmap, e.g. "The top-left region raised the score most; the bottom
// region lowered it most."
func (m *Map) Summary() string {
	regs := m.Regions()
	var hi, lo float32
	var hiName, loName string
	for y := range 3 {
		for x := range 3 {
			v := regs[y][x]
			if v > hi {
				hi, hiName = v, regionNames[y][x]
			}
			if v < lo {
				lo, loName = v, regionNames[y][x]
			}
		}
	}
	switch {
	case hiName == "" && loName == "":
		return "No region of the picture changed the score."
	case loName == "":
		return fmt.Sprintf("The %s region raised the score most; no region lowered it.", hiName)
	case hiName == "":
		return fmt.Sprintf("No region raised the score; the %s region lowered it most.", loName)
	}
	return fmt.Sprintf("The %s region raised the score most; the %s region lowered it most.", hiName, loName)
}

// Colours of the heatmap: regions that raised the husky probability are
// tinted red, those that lowered it blue, more strongly the more they did.
var (
	raised  = color.NRGBA{R: 230, G: 40, B: 30, A: 255}
	lowered = color.NRGBA{R: 30, G: 100, B: 240, A: 255}
)

// maxTint is the opacity of the tint on the cell with the largest effect.
const maxTint = 0.7

// Overlay draws the map over the picture the model saw, x (HWC in [0,1],
// of shape hwc, 3 channels), stretched to width x height (the uploaded
// picture's aspect, which the model's input squashes): the values,
// interpolated between cell centres, tint it red where they are positive
// and blue where negative, in proportion to the largest magnitude.
func (m *Map) Overlay(x []float32, hwc [3]int, width, height int) (*image.NRGBA, error) {
	if hwc[2] != 3 || len(x) != hwc[0]*hwc[1]*3 {
		return nil, fmt.Errorf("explain: overlay needs an RGB input of %dx%d, got %d values", hwc[1], hwc[0], len(x))
	}
	if width < 1 || height < 1 || width > 4096 || height > 4096 {
		return nil, fmt.Errorf("explain: overlay size %dx%d: want 1 to 4096 pixels per side", width, height)
	}
	view := imageprep.NewRGB(hwc[1], hwc[0])
	for i, v := range x {
		view.Pix[i] = uint8(math.Round(float64(min(max(v, 0), 1)) * 255))
	}
	if width != view.Width || height != view.Height {
		view = imageprep.Resize(view, width, height, imageprep.Bicubic)
	}
	var peak float32
	for _, v := range m.Values {
		peak = max(peak, float32(math.Abs(float64(v))))
	}
	out := image.NewNRGBA(image.Rect(0, 0, width, height))
	for y := range height {
		fy := (float64(y)+0.5)*float64(m.Rows)/float64(height) - 0.5
		for x := range width {
			fx := (float64(x)+0.5)*float64(m.Cols)/float64(width) - 0.5
			v := bilinear(m.Values, m.Rows, m.Cols, fy, fx)
			tint, a := raised, float32(0)
			if peak > 0 {
				a = maxTint * v / peak
			}
			if a < 0 {
				tint, a = lowered, -a
			}
			i, o := 3*(y*width+x), out.PixOffset(x, y)
			out.Pix[o+0] = blend(view.Pix[i+0], tint.R, a)
			out.Pix[o+1] = blend(view.Pix[i+1], tint.G, a)
			out.Pix[o+2] = blend(view.Pix[i+2], tint.B, a)
			out.Pix[o+3] = 255
		}
	}
	return out, nil
}

func blend(base, tint uint8, a float32) uint8 {
	return uint8(math.Round(float64(float32(base)*(1-a) + float32(tint)*a)))
}

// OverlayPNG is Overlay encoded as PNG.
func (m *Map) OverlayPNG(x []float32, hwc [3]int, width, height int) ([]byte, error) {
	img, err := m.Overlay(x, hwc, width, height)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// OverlaySize is the size an overlay of a picture of width x height is
// drawn at: its aspect, at most longest pixels on its longer side (and at
// least 1 on the other).
func OverlaySize(width, height, longest int) (w, h int) {
	if width <= 0 || height <= 0 {
		return longest, longest
	}
	if width >= height {
		return longest, max(1, int(math.Round(float64(longest)*float64(height)/float64(width))))
	}
	return max(1, int(math.Round(float64(longest)*float64(width)/float64(height)))), longest
}
