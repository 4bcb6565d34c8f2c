package imageprep

// The hostile-image corpus: one table of generated inputs (case name ->
// generator -> expected outcome). Each input either decodes to a known
// image (exact pixels for lossless formats, Pillow's decode within the
// JPEG tolerance for the JPEG fixtures) or is refused with a precise Kind,
// which the server maps to 415 (Unsupported) or 422 (TooLarge,
// Undecodable).
//
// What the other tests already cover is not repeated here in depth: the
// Pillow parity of every PNG/GIF mode and JPEG subsampling (parity_test.go),
// every Exif orientation and malformed Exif (exif_test.go), truncation of
// every fixture at ~100 points (TestTruncated), random mutations
// (TestHostileNoPanic) and the pixel limit's boundary (TestLimit). The table
// names one case of each of those, so that it reads as the complete list,
// and adds what was missing: interlaced (Adam7) PNG, animated GIF, GIF
// logical screens, lying JPEG SOF headers, zero-size images of each
// format, polyglots, oversized chunks and excess compressed data.
//
// Polyglots: a file is judged by its first bytes only. A PNG, JPEG or GIF
// followed by a ZIP archive, HTML or a script decodes as the image it
// starts with (decoders stop at IEND, EOI or the GIF trailer, and Pillow
// does the same); a file that starts with anything else is Unsupported,
// whatever image it contains later. This is safe here because the server
// never stores, serves or echoes the uploaded bytes: it answers JSON with
// X-Content-Type-Options: nosniff, so a polyglot can only ever be pixels
// to us. A GIF that is also JavaScript ("GIF89a/*...*/=...") is a valid
// GIF whose logical screen is 10799 pixels wide (the bytes "/*"); it is
// decoded, or refused as TooLarge when the height makes the screen exceed
// the pixel limit, like any GIF.

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"runtime"
	"testing"
)

// adam7 are the passes of PNG interlacing: x0, y0, dx, dy.
var adam7 = [7][4]int{{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4}, {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}}

const htmlTail = "<html><body><script>alert(document.cookie)</script></body></html>"

// corpusWant is the expected outcome of one corpus input.
type corpusWant struct {
	// kind is the refusal's Kind; zero means the input decodes.
	kind Kind
	// format is the sniffed format ("" only for Unsupported).
	format string
	// w, h are the decoded size, or the size a TooLarge header declares.
	w, h int
	// exact, when set, is the decoded image, pixel for pixel; when exactIn
	// is not empty, only that rectangle of both is compared.
	exact   func(t testing.TB) *RGB
	exactIn image.Rectangle
	// pillow, when set, names the fixture holding Pillow's decode, which
	// the JPEG decode must match within jpegMaxDiff / jpegMeanDiff.
	pillow string
	// maxAlloc, when set, bounds the bytes Decode allocates: a refusal
	// "from the header alone" must not touch the pixel data.
	maxAlloc uint64
}

// Shorthands for the table.
func refused(k Kind, format string) corpusWant { return corpusWant{kind: k, format: format} }

func tooLarge(format string, w, h int) corpusWant {
	return corpusWant{kind: TooLarge, format: format, w: w, h: h, maxAlloc: 1 << 20}
}

func decodes(format string, w, h int, exact func(t testing.TB) *RGB) corpusWant {
	return corpusWant{format: format, w: w, h: h, exact: exact}
}

func sameAs(m *RGB) func(testing.TB) *RGB { return func(testing.TB) *RGB { return m } }

type corpusCase struct {
	name string
	gen  func(t testing.TB) []byte
	want corpusWant
}

func fixtureBytes(name string) func(t testing.TB) []byte {
	return func(t testing.TB) []byte { return readFixture(t, name) }
}

func constBytes(b []byte) func(testing.TB) []byte { return func(testing.TB) []byte { return b } }

// hostileCorpus is the table. Generators run inside the test.
func hostileCorpus() []corpusCase {
	png1313 := func(t testing.TB) []byte { return encodePNG(t, rgbaOf(corpusRGB(13, 13))) }
	jpg := func(t testing.TB) []byte { return realJPEG(t, 32, 24) }
	interlaced := func(t testing.TB) []byte { return rawPNG(13, 11, 8, 2, true, rgbSamples) }
	return []corpusCase{
		// Sizes that are refused from the header alone, whatever follows.
		{"png 50000x50000 (7.5 GB of pixels), 64 MiB zlib bomb in IDAT", func(t testing.TB) []byte {
			// 64 KiB of zlib that inflates to 64 MiB of zero rows, far
			// less than the header promises but enough to hurt if read.
			return joinBytes(pngHeader(50000, 50000), pngChunk("IDAT", zlibBytes(make([]byte, 64<<20))), pngChunk("IEND", nil))
		}, tooLarge("png", 50000, 50000)},
		{"jpeg SOF lies: 40000x40000 over 32x24 data", func(t testing.TB) []byte {
			return jpegSOFSize(t, realJPEG(t, 32, 24), 40000, 40000)
		}, tooLarge("jpeg", 40000, 40000)},
		{"gif logical screen 65535x65535, 2x2 frame", func(t testing.TB) []byte {
			return gifOnScreen(t, 65535, 65535, 0, 0)
		}, tooLarge("gif", 65535, 65535)},
		{"gif/javascript polyglot, 10799x65535 screen", func(t testing.TB) []byte { return gifJS(t, 65535) },
			tooLarge("gif", 10799, 65535)},
		{"png 6325x6325: one row more than 40 MP", func(t testing.TB) []byte { return pngHeader(6325, 6325) },
			tooLarge("png", 6325, 6325)},

		// Headers that lie within the limit: the data does not fill the
		// declared image.
		{"jpeg SOF lies: 640x480 over 32x24 data", func(t testing.TB) []byte {
			return jpegSOFSize(t, realJPEG(t, 32, 24), 640, 480)
		}, refused(Undecodable, "jpeg")},
		// A header smaller than the data: the decoder reads the MCUs the
		// header asks for and stops (libjpeg does the same, with a
		// warning), so this is the top-left 16x8 of the image; only the
		// last row and column differ, where chroma upsampling no longer
		// sees the neighbouring block.
		{"jpeg SOF lies: 16x8 over 32x24 data", func(t testing.TB) []byte {
			return jpegSOFSize(t, realJPEG(t, 32, 24), 16, 8)
		}, corpusWant{format: "jpeg", w: 16, h: 8, exactIn: image.Rect(0, 0, 15, 7), exact: func(t testing.TB) *RGB {
			return decodeJPEG(t, realJPEG(t, 32, 24))
		}}},
		{"png IDAT holds more rows than IHDR", func(t testing.TB) []byte {
			d := rawPNG(13, 11, 8, 2, false, rgbSamples)
			big := rawPNG(13, 30, 8, 2, false, rgbSamples)
			return joinBytes(d[:33], big[33:]) // IHDR of 13x11, IDAT of 13x30
		}, refused(Undecodable, "png")},
		{"gif LZW data beyond its 2x2 frame", constBytes(gifExcessLZW()), refused(Undecodable, "gif")},
		{"gif frame outside its logical screen", func(t testing.TB) []byte {
			return gifOnScreen(t, 4, 4, 3, 3)
		}, refused(Undecodable, "gif")},
		{"png chunk length 2^31-1", func(t testing.TB) []byte {
			d := encodePNG(t, rgbaOf(corpusRGB(4, 4)))
			return joinBytes(d[:33], []byte{0x7f, 0xff, 0xff, 0xff}, []byte("tEXt"), d[33:])
		}, corpusWant{kind: Undecodable, format: "png", maxAlloc: 1 << 20}},
		{"png bad IHDR CRC", func(t testing.TB) []byte {
			d := encodePNG(t, rgbaOf(corpusRGB(4, 4)))
			d[32] ^= 1
			return d
		}, refused(Undecodable, "png")},

		// Zero-size images.
		{"empty body", constBytes(nil), refused(Unsupported, "")},
		{"png 0x0", func(t testing.TB) []byte { return joinBytes(pngHeader(0, 0), pngChunk("IEND", nil)) }, refused(Undecodable, "png")},
		{"png 16x0", func(t testing.TB) []byte { return joinBytes(pngHeader(16, 0), pngChunk("IEND", nil)) }, refused(Undecodable, "png")},
		{"jpeg 0x0 SOF", func(t testing.TB) []byte { return jpegSOFSize(t, realJPEG(t, 32, 24), 0, 0) }, refused(Undecodable, "jpeg")},
		{"jpeg 32x0 SOF", func(t testing.TB) []byte { return jpegSOFSize(t, realJPEG(t, 32, 24), 32, 0) }, refused(Undecodable, "jpeg")},
		{"gif 0x0 screen", func(t testing.TB) []byte { return gifOnScreen(t, 0, 0, 0, 0) }, refused(Undecodable, "gif")},

		// Truncation (every fixture is also cut at ~100 points by
		// TestTruncated).
		{"interlaced png cut in its IDAT", func(t testing.TB) []byte { d := interlaced(t); return d[:len(d)-30] }, refused(Undecodable, "png")},
		// Pillow 9.4 decodes a PNG without IEND (or with its CRC cut);
		// Go's image/png, and so huskyai, refuses it (422). A difference
		// from the original service on damaged files only.
		{"png without IEND", func(t testing.TB) []byte { d := png1313(t); return d[:len(d)-12] }, refused(Undecodable, "png")},
		{"png cut inside IEND's CRC", func(t testing.TB) []byte { d := png1313(t); return d[:len(d)-1] }, refused(Undecodable, "png")},
		{"jpeg without EOI", func(t testing.TB) []byte { d := jpg(t); return d[:len(d)-2] }, refused(Undecodable, "jpeg")},
		{"jpeg cut in its scan", func(t testing.TB) []byte { d := jpg(t); return d[:len(d)-40] }, refused(Undecodable, "jpeg")},
		{"progressive jpeg cut before its last scan", func(t testing.TB) []byte {
			d := readFixture(t, "jpeg_prog_160x120.jpg")
			return d[:bytes.LastIndex(d, []byte{0xFF, 0xDA})]
		}, refused(Undecodable, "jpeg")},
		{"animated gif cut in its first frame", func(t testing.TB) []byte {
			d := animatedGIF(t)
			return d[:gifFrameStarts(d)[0]+14]
		}, refused(Undecodable, "gif")},
		{"animated gif cut in its second frame", func(t testing.TB) []byte {
			d := animatedGIF(t)
			return d[:gifFrameStarts(d)[1]+14]
		}, decodes("gif", 10, 8, sameAs(animatedGIFRGB()))},
		{"png magic only", constBytes(magicPNG), refused(Undecodable, "png")},
		{"png magic cut", constBytes(magicPNG[:5]), refused(Unsupported, "")},

		// Polyglots: decoded as the image they start with.
		{"png + zip", func(t testing.TB) []byte { return joinBytes(png1313(t), zipArchive()) }, decodes("png", 13, 13, sameAs(corpusRGB(13, 13)))},
		{"png + html", func(t testing.TB) []byte { return joinBytes(png1313(t), []byte(htmlTail)) }, decodes("png", 13, 13, sameAs(corpusRGB(13, 13)))},
		{"png with a script in a tEXt chunk", func(t testing.TB) []byte {
			d := png1313(t)
			return joinBytes(d[:33], pngChunk("tEXt", []byte("Comment\x00"+htmlTail)), d[33:])
		}, decodes("png", 13, 13, sameAs(corpusRGB(13, 13)))},
		{"jpeg + zip (GIFAR-style)", func(t testing.TB) []byte { return joinBytes(jpg(t), zipArchive()) },
			corpusWant{format: "jpeg", w: 32, h: 24, exact: func(t testing.TB) *RGB { return decodeJPEG(t, jpg(t)) }}},
		{"jpeg with html in a COM segment", func(t testing.TB) []byte { return withSegment(jpg(t), 0xFE, []byte(htmlTail)) },
			corpusWant{format: "jpeg", w: 32, h: 24, exact: func(t testing.TB) *RGB { return decodeJPEG(t, jpg(t)) }}},
		{"gif/javascript polyglot, 10799x10 screen", func(t testing.TB) []byte { return gifJS(t, 10) },
			decodes("gif", 10799, 10, sameAs(gifOnScreenRGB(10799, 10, 0, 0)))},
		{"gif + zip", func(t testing.TB) []byte { return joinBytes(gifOnScreen(t, 5, 4, 1, 1), zipArchive()) },
			decodes("gif", 5, 4, sameAs(gifOnScreenRGB(5, 4, 1, 1)))},
		{"html then png", func(t testing.TB) []byte { return joinBytes([]byte(htmlTail), png1313(t)) }, refused(Unsupported, "")},
		{"zip then png", func(t testing.TB) []byte { return joinBytes(zipArchive(), png1313(t)) }, refused(Unsupported, "")},
		{"BOM then png", func(t testing.TB) []byte { return joinBytes([]byte("\xef\xbb\xbf"), png1313(t)) }, refused(Unsupported, "")},

		// Colour types and layouts that decode.
		{"png RGB 8-bit", png1313, decodes("png", 13, 13, sameAs(corpusRGB(13, 13)))},
		{"png interlaced (Adam7) RGB 13x11", interlaced, decodes("png", 13, 11, sameAs(corpusRGB(13, 11)))},
		{"png interlaced (Adam7) 1x1", func(t testing.TB) []byte { return rawPNG(1, 1, 8, 2, true, rgbSamples) },
			decodes("png", 1, 1, sameAs(corpusRGB(1, 1)))},
		{"png interlaced (Adam7) 3x2, empty passes", func(t testing.TB) []byte { return rawPNG(3, 2, 8, 2, true, rgbSamples) },
			decodes("png", 3, 2, sameAs(corpusRGB(3, 2)))},
		{"png interlaced (Adam7) RGBA 16-bit", func(t testing.TB) []byte {
			return rawPNG(9, 10, 16, 6, true, func(x, y int) []uint16 {
				p := corpusPixel(x, y)
				// High byte is the colour, low byte noise; alpha varies.
				return []uint16{uint16(p[0])<<8 | 0x7f, uint16(p[1])<<8 | 0xff, uint16(p[2]) << 8, uint16(x * 7000)}
			})
		}, decodes("png", 9, 10, sameAs(corpusRGB(9, 10)))},
		{"png RGBA with transparent areas", func(t testing.TB) []byte { return encodePNG(t, corpusNRGBA(12, 10)) },
			decodes("png", 12, 10, sameAs(corpusRGB(12, 10)))},
		{"png RGB 16-bit", func(t testing.TB) []byte {
			return rawPNG(11, 7, 16, 2, false, func(x, y int) []uint16 {
				p := corpusPixel(x, y)
				return []uint16{uint16(p[0])<<8 | 0xff, uint16(p[1])<<8 | 0x80, uint16(p[2])<<8 | 0x01}
			})
		}, decodes("png", 11, 7, sameAs(corpusRGB(11, 7)))},
		{"png gray 8-bit", func(t testing.TB) []byte {
			g := image.NewGray(image.Rect(0, 0, 7, 5))
			for i := range g.Pix {
				g.Pix[i] = uint8(i * 9)
			}
			return encodePNG(t, g)
		}, decodes("png", 7, 5, func(testing.TB) *RGB {
			m := NewRGB(7, 5)
			for i := range m.Pix {
				m.Pix[i] = uint8(i / 3 * 9)
			}
			return m
		})},
		{"png paletted 8-bit", func(t testing.TB) []byte { return encodePNG(t, corpusPaletted(17, 9, corpusPalette(200))) },
			decodes("png", 17, 9, sameAs(palettedRGB(corpusPaletted(17, 9, corpusPalette(200)), 17, 9, color.Black)))},
		{"png paletted 2-bit", func(t testing.TB) []byte { return encodePNG(t, corpusPaletted(17, 9, corpusPalette(4))) },
			decodes("png", 17, 9, sameAs(palettedRGB(corpusPaletted(17, 9, corpusPalette(4)), 17, 9, color.Black)))},
		{"gif animated, first frame at an offset", animatedGIF, decodes("gif", 10, 8, sameAs(animatedGIFRGB()))},
		{"jpeg Exif orientation 6", func(t testing.TB) []byte {
			return withSegment(asymmetricJPEG(t), 0xE1, exifPayload(binary.BigEndian, 3, 6))
		}, corpusWant{format: "jpeg", w: 16, h: 24, exact: func(t testing.TB) *RGB {
			return wantOriented(decodeJPEG(t, asymmetricJPEG(t)), 6)
		}}},
		{"jpeg Exif orientation 5 (transpose), little-endian LONG", func(t testing.TB) []byte {
			return withSegment(asymmetricJPEG(t), 0xE1, exifPayload(binary.LittleEndian, 4, 5))
		}, corpusWant{format: "jpeg", w: 16, h: 24, exact: func(t testing.TB) *RGB {
			return wantOriented(decodeJPEG(t, asymmetricJPEG(t)), 5)
		}}},
		{"jpeg CMYK (Adobe)", fixtureBytes("jpeg_cmyk_160x120.jpg"), corpusWant{format: "jpeg", w: 160, h: 120, pillow: "jpeg_cmyk_160x120.decoded.png"}},
		{"jpeg grayscale", fixtureBytes("jpeg_gray_160x120.jpg"), corpusWant{format: "jpeg", w: 160, h: 120, pillow: "jpeg_gray_160x120.decoded.png"}},
		{"jpeg progressive", fixtureBytes("jpeg_prog_160x120.jpg"), corpusWant{format: "jpeg", w: 160, h: 120, pillow: "jpeg_prog_160x120.decoded.png"}},
		{"jpeg 4:2:2 odd size", fixtureBytes("jpeg_422_q50_161x119.jpg"), corpusWant{format: "jpeg", w: 161, h: 119, pillow: "jpeg_422_q50_161x119.decoded.png"}},
	}
}

// rgbaOf converts m to an opaque *image.RGBA.
func rgbaOf(m *RGB) *image.RGBA {
	out := image.NewRGBA(image.Rect(0, 0, m.Width, m.Height))
	for i := 0; i < m.Width*m.Height; i++ {
		copy(out.Pix[4*i:], m.Pix[3*i:3*i+3])
		out.Pix[4*i+3] = 0xff
	}
	return out
}

// cropRGB returns the rectangle r of m.
func cropRGB(m *RGB, r image.Rectangle) *RGB {
	out := NewRGB(r.Dx(), r.Dy())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		copy(out.Pix[3*(y-r.Min.Y)*r.Dx():][:3*r.Dx()], m.Pix[3*(y*m.Width+r.Min.X):])
	}
	return out
}

// TestHostileCorpus runs every corpus case through Decode and Prepare and
// checks its outcome: the decoded pixels, or the exact refusal (Kind,
// format, declared size), and for refusals from the header a bound on
// the memory allocated.
func TestHostileCorpus(t *testing.T) {
	for _, tc := range hostileCorpus() {
		t.Run(tc.name, func(t *testing.T) {
			data := tc.gen(t)
			want := tc.want
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			m, format, err := Decode(data, 0)
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes in, %d bytes allocated: %v", len(data), alloc, err)
			if format != want.format {
				t.Errorf("format %q, want %q", format, want.format)
			}
			if want.maxAlloc > 0 && alloc > want.maxAlloc {
				t.Errorf("allocated %d bytes, more than %d", alloc, want.maxAlloc)
			}
			if want.kind != 0 {
				e, ok := err.(*Error)
				if !ok || e.Kind != want.kind {
					t.Fatalf("error %v, want Kind %v", err, want.kind)
				}
				if want.kind == TooLarge && (e.Width != want.w || e.Height != want.h) {
					t.Errorf("declared size %dx%d, want %dx%d", e.Width, e.Height, want.w, want.h)
				}
				if _, info, perr := Prepare(data, Options{Width: 16, Height: 12}, nil); kindOf(perr) != want.kind || info.Format != want.format {
					t.Errorf("Prepare: %+v %v", info, perr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if m.Width != want.w || m.Height != want.h || len(m.Pix) != 3*m.Width*m.Height {
				t.Fatalf("decoded %dx%d (%d bytes), want %dx%d", m.Width, m.Height, len(m.Pix), want.w, want.h)
			}
			switch {
			case want.exact != nil && !want.exactIn.Empty():
				if d := firstDiff(cropRGB(m, want.exactIn), cropRGB(want.exact(t), want.exactIn)); d != "" {
					t.Errorf("in %v: %s", want.exactIn, d)
				}
			case want.exact != nil:
				if d := firstDiff(m, want.exact(t)); d != "" {
					t.Error(d)
				}
			case want.pillow != "":
				p := loadRGB(t, want.pillow)
				if maxd, mean := pixDiff(m.Pix, p.Pix); maxd > jpegMaxDiff || mean > jpegMeanDiff {
					t.Errorf("differs from Pillow's decode by max %d, mean %.3f", maxd, mean)
				}
			default:
				t.Fatal("a decodable case must say what it decodes to")
			}
			x, info, err := Prepare(data, Options{Width: 16, Height: 12}, nil)
			if err != nil || len(x) != 16*12*3 || info != (Info{Format: want.format, Width: want.w, Height: want.h}) {
				t.Errorf("Prepare: %d values, %+v, %v", len(x), info, err)
			}
		})
	}
}

// TestCorpusSniffAgrees checks that the server's early refusal (Sniff,
// before an inference slot is taken) and Decode agree on every case: the
// 415 of the HTTP layer is exactly Decode's Unsupported.
func TestCorpusSniffAgrees(t *testing.T) {
	for _, tc := range hostileCorpus() {
		data := tc.gen(t)
		_, ok := Sniff(data)
		if ok == (tc.want.kind == Unsupported) {
			t.Errorf("%s: Sniff ok=%v, want Kind %v", tc.name, ok, tc.want.kind)
		}
	}
}

// TestExifWalkEdges covers the branches of the Exif segment walk the other
// tests miss: input that is not a JPEG, marker segments without a length
// (RSTn, TEM) before the Exif, a marker cut before its length, and a TIFF
// header shorter than 8 bytes.
func TestExifWalkEdges(t *testing.T) {
	exif6 := exifPayload(binary.BigEndian, 3, 6)
	seg := func(p []byte) []byte {
		return joinBytes(binary.BigEndian.AppendUint16([]byte{0xFF, 0xE1}, uint16(len(p)+2)), p)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want int
	}{
		{"not a jpeg", joinBytes([]byte{0x89, 'P'}, seg(exif6)), 1},
		{"RST0 and TEM before the Exif", joinBytes([]byte{0xFF, 0xD8, 0xFF, 0xD0, 0xFF, 0x01}, seg(exif6)), 6},
		{"marker cut before its length", []byte{0xFF, 0xD8, 0xFF, 0xE1, 0x00}, 1},
		{"tiff header of 7 bytes", joinBytes([]byte{0xFF, 0xD8}, seg([]byte("Exif\x00\x00MM\x00*\x00\x00\x00"))), 1},
	} {
		if got := exifOrientation(tc.data); got != tc.want {
			t.Errorf("%s: orientation %d, want %d", tc.name, got, tc.want)
		}
	}
}

// maxBytesPerPixel bounds what one Decode allocates in all per pixel its
// header declares, whether the decode succeeds or fails half-way. Measured
// (Go 1.26): 16-bit RGBA PNG 12.8 (Go's NRGBA64, 8 bytes a pixel, then our
// 3-byte RGB), the same interlaced 20.7 (image/png decodes each Adam7
// pass into an image of its own before merging), progressive JPEG 7.7
// (coefficients), baseline JPEG 4.6, GIF 3 to 4.
//
// A header is all an attacker needs to make the decoder allocate the
// whole image: a few dozen bytes of PNG or GIF, or a JPEG SOF, declaring
// up to the pixel limit cost that much each. So --max-pixels and the
// number of concurrent decodes (--max-inflight) are what bound memory:
// up to about 21 bytes x --max-pixels (840 MB at the default 40 MP) per
// inference slot in the worst case, 5 to 13 bytes for common images.
const maxBytesPerPixel = 24

// TestDecodeMemoryPerPixel measures the allocation of decoding 1 MP
// images of the costliest layouts, honest and lying, and checks it stays
// within maxBytesPerPixel per declared pixel.
func TestDecodeMemoryPerPixel(t *testing.T) {
	const w, h = 1000, 1000
	rgba16 := func(x, y int) []uint16 { return []uint16{uint16(x * 60), uint16(y * 60), uint16(x ^ y), 0xfff0} }
	for _, tc := range []struct {
		name string
		data []byte
		ok   bool
	}{
		{"png RGBA 16-bit", rawPNG(w, h, 16, 6, false, rgba16), true},
		{"png RGBA 16-bit interlaced", rawPNG(w, h, 16, 6, true, rgba16), true},
		{"png RGBA 16-bit header over 2x2 data", func() []byte {
			d := rawPNG(2, 2, 16, 6, false, rgba16)
			ihdr := binary.BigEndian.AppendUint32(nil, w)
			ihdr = binary.BigEndian.AppendUint32(ihdr, h)
			return joinBytes(d[:8], pngChunk("IHDR", append(ihdr, 16, 6, 0, 0, 0)), d[33:])
		}(), false},
		{"jpeg 4:2:0", realJPEG(t, w, h), true},
		{"progressive jpeg SOF over 160x120 data", jpegSOFSize(t, readFixture(t, "jpeg_prog_160x120.jpg"), w, h), false},
		{"gif 42-byte file with a 1000x1000 screen", gifOnScreen(t, w, h, 0, 0), true},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		m, _, err := Decode(tc.data, 0)
		runtime.ReadMemStats(&after)
		alloc := after.TotalAlloc - before.TotalAlloc
		perPixel := float64(alloc) / (w * h)
		t.Logf("%s: %d bytes in, %.1f bytes allocated per declared pixel (%v)", tc.name, len(tc.data), perPixel, err)
		if (err == nil) != tc.ok || (tc.ok && m.Width*m.Height != w*h) {
			t.Errorf("%s: Decode error %v, want success %v", tc.name, err, tc.ok)
		}
		if perPixel > maxBytesPerPixel {
			t.Errorf("%s: %.1f bytes allocated per pixel, more than %d", tc.name, perPixel, maxBytesPerPixel)
		}
	}
}
