package imageprep

// The builders of the hostile corpus's inputs (corpus_test.go): PNGs,
// GIFs and JPEGs written byte by byte, and the images they should decode to.

import (
	"bytes"
	"compress/lzw"
	"compress/zlib"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"testing"
)

// corpusPixel is the colour of pixel (x, y) in the generated images: no two
// neighbours alike, so a misplaced row or pass shows.
func corpusPixel(x, y int) [3]uint8 {
	return [3]uint8{uint8(x*37 + y*11), uint8(y*53 + x*3), uint8((x ^ y) * 29)}
}

// corpusRGB is the expected decode of a w x h image of corpusPixel.
func corpusRGB(w, h int) *RGB {
	m := NewRGB(w, h)
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := corpusPixel(x, y)
			copy(m.Pix[3*(y*w+x):], p[:])
		}
	}
	return m
}

// pngChunk returns one PNG chunk: length, type, data and CRC.
func pngChunk(typ string, data []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(data)))
	b = append(b, typ...)
	b = append(b, data...)
	return binary.BigEndian.AppendUint32(b, crc32.ChecksumIEEE(b[4:]))
}

func zlibBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// rawPNG writes a w x h PNG of colour type ctype (2 RGB, 6 RGBA) and bit
// depth 8 or 16, interlaced with Adam7 or not, whose pixel (x, y) has the
// samples px(x, y) (3 or 4 values, scaled to the depth by the caller).
// Every row uses filter type 0. Go's encoder cannot write interlaced PNGs,
// hence this writer.
func rawPNG(w, h int, depth, ctype byte, interlace bool, px func(x, y int) []uint16) []byte {
	row := func(y, x0, dx int) []byte {
		b := []byte{0} // filter: none
		for x := x0; x < w; x += dx {
			for _, v := range px(x, y) {
				if depth == 16 {
					b = binary.BigEndian.AppendUint16(b, v)
				} else {
					b = append(b, byte(v))
				}
			}
		}
		return b
	}
	var raw []byte
	if interlace {
		for _, p := range adam7 {
			if p[0] >= w || p[1] >= h {
				continue // an empty pass has no rows at all
			}
			for y := p[1]; y < h; y += p[3] {
				raw = append(raw, row(y, p[0], p[2])...)
			}
		}
	} else {
		for y := 0; y < h; y++ {
			raw = append(raw, row(y, 0, 1)...)
		}
	}
	ihdr := binary.BigEndian.AppendUint32(nil, uint32(w))
	ihdr = binary.BigEndian.AppendUint32(ihdr, uint32(h))
	il := byte(0)
	if interlace {
		il = 1
	}
	ihdr = append(ihdr, depth, ctype, 0, 0, il)
	b := append([]byte(nil), magicPNG...)
	b = append(b, pngChunk("IHDR", ihdr)...)
	b = append(b, pngChunk("IDAT", zlibBytes(raw))...)
	return append(b, pngChunk("IEND", nil)...)
}

// rgbSamples are corpusPixel's samples at depth 8.
func rgbSamples(x, y int) []uint16 {
	p := corpusPixel(x, y)
	return []uint16{uint16(p[0]), uint16(p[1]), uint16(p[2])}
}

// encodePNG encodes img with Go's encoder.
func encodePNG(t testing.TB, img image.Image) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// corpusNRGBA is a w x h NRGBA image of corpusPixel whose alpha varies,
// with a fully transparent top-left quarter.
func corpusNRGBA(w, h int) *image.NRGBA {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := corpusPixel(x, y)
			a := uint8(x*17 + y*5)
			if x < w/2 && y < h/2 {
				a = 0
			}
			m.SetNRGBA(x, y, color.NRGBA{p[0], p[1], p[2], a})
		}
	}
	return m
}

// corpusPalette has n distinct colours; entry 0 is a distinctive orange.
func corpusPalette(n int) color.Palette {
	p := color.Palette{color.RGBA{250, 120, 10, 255}}
	for i := 1; i < n; i++ {
		p = append(p, color.RGBA{uint8(i * 7), uint8(255 - i*3), uint8(i * 13), 255})
	}
	return p
}

// corpusPaletted is a w x h paletted image using every colour of pal.
func corpusPaletted(w, h int, pal color.Palette) *image.Paletted {
	m := image.NewPaletted(image.Rect(0, 0, w, h), pal)
	for i := range m.Pix {
		m.Pix[i] = uint8((i*7 + i/w) % len(pal))
	}
	return m
}

// palettedRGB is the expected decode of m: each index's palette colour,
// placed on a sw x sh screen filled with fill.
func palettedRGB(m *image.Paletted, sw, sh int, fill color.Color) *RGB {
	out := NewRGB(sw, sh)
	fr, fg, fb, _ := fill.RGBA()
	for i := 0; i < len(out.Pix); i += 3 {
		out.Pix[i], out.Pix[i+1], out.Pix[i+2] = uint8(fr>>8), uint8(fg>>8), uint8(fb>>8)
	}
	b := m.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := m.Palette[m.ColorIndexAt(x, y)].RGBA()
			copy(out.Pix[3*(y*sw+x):], []uint8{uint8(r >> 8), uint8(g >> 8), uint8(bb >> 8)})
		}
	}
	return out
}

// animatedGIF is a 10x8 GIF of three frames: the first a 6x4 frame at
// (2, 1), then two full frames of other colours.
func animatedGIF(t testing.TB) []byte {
	pal := corpusPalette(16)
	f0 := corpusPaletted(6, 4, pal)
	f0.Rect = image.Rect(2, 1, 8, 5)
	full := func(i uint8) *image.Paletted {
		m := image.NewPaletted(image.Rect(0, 0, 10, 8), pal)
		for j := range m.Pix {
			m.Pix[j] = i
		}
		return m
	}
	g := &gif.GIF{
		Image:    []*image.Paletted{f0, full(5), full(9)},
		Delay:    []int{10, 10, 10},
		Disposal: []byte{gif.DisposalNone, gif.DisposalBackground, gif.DisposalPrevious},
		Config:   image.Config{ColorModel: pal, Width: 10, Height: 8},
	}
	var b bytes.Buffer
	if err := gif.EncodeAll(&b, g); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func animatedGIFRGB() *RGB {
	pal := corpusPalette(16)
	f0 := corpusPaletted(6, 4, pal)
	f0.Rect = image.Rect(2, 1, 8, 5)
	return palettedRGB(f0, 10, 8, pal[0])
}

// gifFrameStarts returns the offsets of the image descriptors (0x2C) of a
// GIF, found by walking its blocks.
func gifFrameStarts(data []byte) []int {
	p := 13
	if data[10]&0x80 != 0 {
		p += 3 << (data[10]&7 + 1)
	}
	var starts []int
	for p < len(data) {
		switch data[p] {
		case 0x21:
			p += 2
			for p < len(data) && data[p] != 0 {
				p += 1 + int(data[p])
			}
			p++
		case 0x2C:
			starts = append(starts, p)
			p += 10
			if data[p-1]&0x80 != 0 {
				p += 3 << (data[p-1]&7 + 1)
			}
			p++ // LZW minimum code size
			for p < len(data) && data[p] != 0 {
				p += 1 + int(data[p])
			}
			p++
		default:
			return starts
		}
	}
	return starts
}

// gifOnScreen is a GIF of the 2x2 frame of 4 colours at (x, y) on a
// sw x sh logical screen: Go's encoding of the frame with its screen
// enlarged and the frame moved, as gen.py's gif_move_frame does.
func gifOnScreen(t testing.TB, sw, sh, x, y uint16) []byte {
	m := corpusPaletted(2, 2, corpusPalette(4))
	var b bytes.Buffer
	if err := gif.Encode(&b, m, nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	binary.LittleEndian.PutUint16(data[6:], sw)
	binary.LittleEndian.PutUint16(data[8:], sh)
	p := gifFrameStarts(data)[0]
	binary.LittleEndian.PutUint16(data[p+1:], x)
	binary.LittleEndian.PutUint16(data[p+3:], y)
	return data
}

func gifOnScreenRGB(sw, sh, x, y int) *RGB {
	pal := corpusPalette(4)
	m := corpusPaletted(2, 2, pal)
	m.Rect = m.Rect.Add(image.Pt(x, y))
	return palettedRGB(m, sw, sh, pal[0])
}

// gifJS is a GIF that is also JavaScript: "GIF89a/*" opens a comment
// (and makes the logical screen 0x2a2f = 10799 wide), the GIF's bytes
// follow, and "*/=1;alert(1)" after the trailer closes the comment and
// runs a script in a browser that loads it as one.
func gifJS(t testing.TB, height uint16) []byte {
	data := gifOnScreen(t, 0x2a2f, height, 0, 0)
	if string(data[:8]) != "GIF89a/*" {
		t.Fatalf("polyglot header %q", data[:8])
	}
	if bytes.Contains(data, []byte("*/")) {
		t.Fatal("the GIF bytes close the comment early")
	}
	return append(data, "*/=1;alert(1)//"...)
}

// gifExcessLZW is a 2x2 GIF whose LZW stream encodes 64 pixels.
func gifExcessLZW() []byte {
	b := append([]byte(nil), magicGIF89...)
	b = append(b, 2, 0, 2, 0, 0x81, 0, 0) // 2x2, global table of 4
	b = append(b, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 255, 0)
	b = append(b, 0x2C, 0, 0, 0, 0, 2, 0, 2, 0, 0, 2)
	var lz bytes.Buffer
	w := lzw.NewWriter(&lz, lzw.LSB, 2)
	w.Write(bytes.Repeat([]byte{1, 2, 3, 0}, 16))
	w.Close()
	for d := lz.Bytes(); len(d) > 0; {
		n := min(len(d), 255)
		b = append(b, byte(n))
		b = append(b, d[:n]...)
		d = d[n:]
	}
	return append(b, 0, 0x3B)
}

// realJPEG encodes a w x h image of corpusPixel.
func realJPEG(t testing.TB, w, h int) []byte {
	m := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			p := corpusPixel(x, y)
			m.SetRGBA(x, y, color.RGBA{p[0], p[1], p[2], 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// jpegSOFSize rewrites the size in a JPEG's SOF0/SOF2 header: the header
// then lies about the image its scan data holds.
func jpegSOFSize(t testing.TB, data []byte, w, h uint16) []byte {
	data = bytes.Clone(data)
	for p := 2; p+9 < len(data); {
		if data[p] != 0xFF {
			t.Fatal("lost in the JPEG segments")
		}
		if m := data[p+1]; m == 0xC0 || m == 0xC2 {
			binary.BigEndian.PutUint16(data[p+5:], h)
			binary.BigEndian.PutUint16(data[p+7:], w)
			return data
		}
		p += 2 + int(binary.BigEndian.Uint16(data[p+2:]))
	}
	t.Fatal("no SOF in the JPEG")
	return nil
}

// decodeJPEG is what Decode makes of a JPEG, for cases whose expectation
// is "the same as this other JPEG".
func decodeJPEG(t testing.TB, data []byte) *RGB {
	t.Helper()
	m, _, err := Decode(data, 0)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// zipArchive is a small but real ZIP file (local header, data, central
// directory), as a polyglot's tail.
func zipArchive() []byte {
	name, body := "evil.sh", []byte("#!/bin/sh\necho pwned\n")
	crc := crc32.ChecksumIEEE(body)
	le := binary.LittleEndian
	b := []byte("PK\x03\x04")
	b = le.AppendUint16(b, 10)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0) // flags, method, time, date
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, uint32(len(body)))
	b = le.AppendUint32(b, uint32(len(body)))
	b = le.AppendUint16(b, uint16(len(name)))
	b = le.AppendUint16(b, 0)
	b = append(b, name...)
	b = append(b, body...)
	cd := len(b)
	b = append(b, "PK\x01\x02"...)
	b = le.AppendUint16(b, 20)
	b = le.AppendUint16(b, 10)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = le.AppendUint32(b, crc)
	b = le.AppendUint32(b, uint32(len(body)))
	b = le.AppendUint32(b, uint32(len(body)))
	b = le.AppendUint16(b, uint16(len(name)))
	b = append(b, make([]byte, 12)...) // extra, comment, disk, attributes
	b = le.AppendUint32(b, 0)          // local header offset
	b = append(b, name...)
	end := len(b)
	b = append(b, "PK\x05\x06"...)
	b = append(b, 0, 0, 0, 0)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, uint32(end-cd))
	b = le.AppendUint32(b, uint32(cd))
	return le.AppendUint16(b, 0)
}

// joinBytes concatenates byte slices.
func joinBytes(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
