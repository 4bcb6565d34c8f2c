package imageprep

import (
	"fmt"
	"testing"
)

// BenchmarkResize times the antialiased bicubic resize to the model input
// from the sizes a libjpeg build decodes 1 MP and 12 MP photos to (DCT
// scaling by 1/4 and 1/8), and from a 640x480 image decoded whole.
func BenchmarkResize(b *testing.B) {
	for _, s := range [][2]int{{320, 200}, {500, 375}, {640, 480}} {
		src := NewRGB(s[0], s[1])
		for i := range src.Pix {
			src.Pix[i] = uint8(i*7 + i/3)
		}
		b.Run(fmt.Sprintf("%dx%d", s[0], s[1]), func(b *testing.B) {
			for b.Loop() {
				Resize(src, 128, 128, Bicubic)
			}
		})
	}
}
