package imageprep

import (
	"bytes"
	"encoding/binary"
	"image"
	"image/color"
	"image/jpeg"
	"maps"
	"slices"
	"testing"
)

// byteOrder is binary.LittleEndian or binary.BigEndian.
type byteOrder interface {
	binary.ByteOrder
	binary.AppendByteOrder
}

// exifPayload returns an APP1 payload ("Exif\0\0" and a TIFF structure in
// byte order bo) whose IFD0 holds an ImageWidth entry and an Orientation
// entry of type typ (3 SHORT, 4 LONG) with value v.
func exifPayload(bo byteOrder, typ uint16, v uint32) []byte {
	b := []byte("Exif\x00\x00")
	if bo == byteOrder(binary.LittleEndian) {
		b = append(b, "II*\x00"...)
	} else {
		b = append(b, "MM\x00*"...)
	}
	b = bo.AppendUint32(b, 8) // IFD0 right after the header
	b = bo.AppendUint16(b, 2) // two entries
	// ImageWidth, LONG, 1, 640.
	b = bo.AppendUint16(b, 0x0100)
	b = bo.AppendUint16(b, 4)
	b = bo.AppendUint32(b, 1)
	b = bo.AppendUint32(b, 640)
	// Orientation.
	b = bo.AppendUint16(b, 0x0112)
	b = bo.AppendUint16(b, typ)
	b = bo.AppendUint32(b, 1)
	if typ == 3 {
		b = bo.AppendUint16(b, uint16(v))
		b = append(b, 0, 0)
	} else {
		b = bo.AppendUint32(b, v)
	}
	b = bo.AppendUint32(b, 0) // no next IFD
	return b
}

// withSegment inserts marker segment (0xFF, marker, length, payload) right
// after the JPEG's SOI.
func withSegment(jpg []byte, marker byte, payload []byte) []byte {
	out := append([]byte(nil), jpg[:2]...)
	out = append(out, 0xFF, marker)
	out = binary.BigEndian.AppendUint16(out, uint16(len(payload)+2))
	out = append(out, payload...)
	return append(out, jpg[2:]...)
}

// asymmetricJPEG encodes a 24x16 image with no symmetry: a gradient, a
// red top-left block and a green bottom-right block.
func asymmetricJPEG(t testing.TB) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 24, 16))
	for y := 0; y < 16; y++ {
		for x := 0; x < 24; x++ {
			c := color.RGBA{uint8(10 * x), uint8(15 * y), uint8(100 + 3*x - 2*y), 255}
			switch {
			case x < 8 && y < 8:
				c = color.RGBA{255, 0, 0, 255}
			case x >= 16 && y >= 8:
				c = color.RGBA{0, 255, 0, 255}
			}
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Reference transforms, composed from three simple ones so that they do
// not share code with orient.
func flipH(m *RGB) *RGB {
	out := NewRGB(m.Width, m.Height)
	for y := 0; y < m.Height; y++ {
		for x := 0; x < m.Width; x++ {
			copy(out.Pix[3*(y*m.Width+x):][:3], m.Pix[3*(y*m.Width+m.Width-1-x):])
		}
	}
	return out
}

func flipV(m *RGB) *RGB {
	out := NewRGB(m.Width, m.Height)
	for y := 0; y < m.Height; y++ {
		copy(out.Pix[3*y*m.Width:][:3*m.Width], m.Pix[3*(m.Height-1-y)*m.Width:])
	}
	return out
}

func transpose(m *RGB) *RGB {
	out := NewRGB(m.Height, m.Width)
	for y := 0; y < out.Height; y++ {
		for x := 0; x < out.Width; x++ {
			copy(out.Pix[3*(y*out.Width+x):][:3], m.Pix[3*(x*m.Width+y):])
		}
	}
	return out
}

// wantOriented is what Pillow's exif_transpose makes of upright m for
// orientation o.
func wantOriented(m *RGB, o int) *RGB {
	switch o {
	case 2:
		return flipH(m) // FLIP_LEFT_RIGHT
	case 3:
		return flipV(flipH(m)) // ROTATE_180
	case 4:
		return flipV(m) // FLIP_TOP_BOTTOM
	case 5:
		return transpose(m) // TRANSPOSE
	case 6:
		return flipH(transpose(m)) // ROTATE_270: 90 degrees clockwise
	case 7:
		return flipV(flipH(transpose(m))) // TRANSVERSE
	case 8:
		return flipV(transpose(m)) // ROTATE_90: 90 degrees counter-clockwise
	}
	return m
}

func sameRGB(a, b *RGB) bool {
	return a.Width == b.Width && a.Height == b.Height && bytes.Equal(a.Pix, b.Pix)
}

func TestExifOrientation(t *testing.T) {
	plain := asymmetricJPEG(t)
	upright, _, err := Decode(plain, 0)
	if err != nil {
		t.Fatal(err)
	}
	if o := exifOrientation(plain); o != 1 {
		t.Fatalf("orientation of a JPEG without Exif = %d", o)
	}
	// Where the stored image's top-left (red) corner ends up, per the Exif
	// specification: an independent check of the reference transforms.
	corner := [9]string{1: "TL", 2: "TR", 3: "BR", 4: "BL", 5: "TL", 6: "TR", 7: "BR", 8: "BL"}
	seen := map[string]int{}
	for o := 1; o <= 8; o++ {
		for _, bo := range []byteOrder{binary.LittleEndian, binary.BigEndian} {
			for _, typ := range []uint16{3, 4} {
				data := withSegment(plain, 0xE1, exifPayload(bo, typ, uint32(o)))
				if got := exifOrientation(data); got != o {
					t.Fatalf("orientation %d (%v, type %d): parsed %d", o, bo, typ, got)
				}
				got, info, _, err := decode(data, 0)
				if err != nil {
					t.Fatal(err)
				}
				want := wantOriented(upright, o)
				if !sameRGB(got, want) {
					t.Errorf("orientation %d (%v, type %d): %s", o, bo, typ, firstDiff(got, want))
				}
				if info.Width != want.Width || info.Height != want.Height {
					t.Errorf("orientation %d: Info %dx%d, want %dx%d", o, info.Width, info.Height, want.Width, want.Height)
				}
			}
		}
		got := orient(upright, o)
		seen[string(got.Pix)]++
		w, h := got.Width, got.Height
		at := map[string][2]int{"TL": {0, 0}, "TR": {w - 1, 0}, "BL": {0, h - 1}, "BR": {w - 1, h - 1}}[corner[o]]
		if p := got.Pix[3*(at[1]*w+at[0]):][:3]; p[0] < 200 || p[1] > 60 {
			t.Errorf("orientation %d: the red corner is not at %s (pixel %v)", o, corner[o], p)
		}
	}
	if len(seen) != 8 {
		t.Errorf("the 8 orientations give %d distinct images; the test image is not asymmetric enough", len(seen))
	}

	// Prepare sees the upright image and reports its size.
	data := withSegment(plain, 0xE1, exifPayload(binary.BigEndian, 3, 6))
	x, info, err := Prepare(data, Options{Width: 16, Height: 24}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if info.Width != 16 || info.Height != 24 {
		t.Errorf("Prepare Info %+v, want 16x24", info)
	}
	if want := wantOriented(upright, 6).Tensor(nil); !slices.Equal(x, want) {
		t.Error("Prepare of an orientation-6 JPEG differs from the rotated image")
	}
}

// malformedExif are Exif cases that must read as orientation 1. Each is a
// JPEG prefix (SOI and segments) to be followed by a real JPEG's body.
func malformedExif() map[string][]byte {
	le := binary.LittleEndian
	good := exifPayload(le, 3, 6)
	set := func(b []byte, at int, v []byte) []byte {
		c := append([]byte(nil), b...)
		copy(c[at:], v)
		return c
	}
	u32 := func(v uint32) []byte { return le.AppendUint32(nil, v) }
	u16 := func(v uint16) []byte { return le.AppendUint16(nil, v) }
	// Offsets into good: 6 TIFF header, 10 IFD0 offset, 14 entry count,
	// 16 first entry, 28 orientation entry (30 type, 32 count, 36 value).
	seg := func(p []byte) []byte {
		return binary.BigEndian.AppendUint16([]byte{0xFF, 0xD8, 0xFF, 0xE1}, uint16(len(p)+2))
	}
	cases := map[string][]byte{
		"tiff truncated":         good[:6+12],
		"ifd truncated":          good[:len(good)-10],
		"header only":            good[:6+8],
		"ifd offset past end":    set(good, 10, u32(1<<20)),
		"ifd offset max":         set(good, 10, u32(0xFFFFFFFF)),
		"ifd offset at end":      set(good, 10, u32(uint32(len(good)-6))),
		"ifd offset loops":       set(good, 10, u32(0)), // IFD0 "at" the header: 0x4949 entries
		"entry count huge":       set(good, 14, u16(0xFFFF)),
		"bad byte order":         set(good, 6, []byte("IM*\x00")),
		"bad magic":              set(good, 6, []byte("II+\x00")),
		"orientation 0":          set(good, 36, u16(0)),
		"orientation 9":          set(good, 36, u16(9)),
		"orientation 0x106":      set(good, 36, u16(0x106)),
		"orientation ascii":      set(good, 30, u16(2)),
		"orientation count 2":    set(good, 32, u32(2)),
		"orientation count huge": set(good, 32, u32(0xFFFFFFFF)),
		"not exif":               set(good, 0, []byte("Exif\x00\x01")),
		"xmp":                    append([]byte("http://ns.adobe.com/xap/1.0/\x00"), good...),
	}
	out := map[string][]byte{}
	for name, p := range cases {
		out[name] = append(seg(p), p...)
	}
	// Segment-level damage.
	full := append(seg(good), good...)
	out["segment length past end"] = set(full, 4, []byte{0xFF, 0xF0})
	out["segment length 0"] = set(full, 4, []byte{0, 0})
	out["segment length 1"] = set(full, 4, []byte{0, 1})
	out["segment cut"] = full[:len(full)-5]
	out["no marker"] = append([]byte{0xFF, 0xD8, 0x00}, full[2:]...)
	out["soi only"] = []byte{0xFF, 0xD8}
	out["fill bytes only"] = append([]byte{0xFF, 0xD8}, bytes.Repeat([]byte{0xFF}, 100)...)
	out["exif after sos"] = append([]byte{0xFF, 0xD8, 0xFF, 0xDA, 0, 2}, full[2:]...)
	out["exif after eoi"] = append([]byte{0xFF, 0xD8, 0xFF, 0xD9}, full[2:]...)
	return out
}

func TestExifMalformed(t *testing.T) {
	plain := asymmetricJPEG(t)
	upright, _, err := Decode(plain, 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, prefix := range malformedExif() {
		if o := exifOrientation(prefix); o != 1 {
			t.Errorf("%s: orientation %d, want 1", name, o)
		}
		if name == "segment cut" {
			// Followed by more bytes, the cut segment is whole again.
			continue
		}
		// Followed by the real image: when it still decodes, it is not
		// turned.
		data := append(append([]byte(nil), prefix...), plain[2:]...)
		if o := exifOrientation(data); o != 1 {
			t.Errorf("%s + image: orientation %d, want 1", name, o)
		}
		if m, _, err := Decode(data, 0); err == nil && !sameRGB(m, upright) {
			t.Errorf("%s + image: decoded image was changed", name)
		}
	}
	// A second Exif segment is ignored, as Pillow keeps the first.
	data := withSegment(withSegment(plain, 0xE1, exifPayload(binary.LittleEndian, 3, 8)), 0xE1, exifPayload(binary.LittleEndian, 3, 1))
	if o := exifOrientation(data); o != 1 {
		t.Errorf("first Exif says 1, second 8: orientation %d", o)
	}
	// Another APPn before the Exif segment is skipped.
	data = withSegment(withSegment(plain, 0xE1, exifPayload(binary.BigEndian, 3, 3)), 0xE0, []byte("JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"))
	if o := exifOrientation(data); o != 3 {
		t.Errorf("JFIF then Exif 3: orientation %d", o)
	}
	for o := 0; o <= 9; o++ {
		if got := orient(upright, o); (o < 2 || o > 8) && got != upright {
			t.Errorf("orient(%d) changed the image", o)
		}
	}
}

func FuzzExifOrientation(f *testing.F) {
	plain := asymmetricJPEG(f)
	for o := 1; o <= 8; o++ {
		f.Add(withSegment(plain, 0xE1, exifPayload(binary.BigEndian, 3, uint32(o)))[:200])
	}
	f.Add(withSegment(plain, 0xE1, exifPayload(binary.LittleEndian, 4, 6)))
	cases := malformedExif()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		f.Add(cases[name])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		o := exifOrientation(data)
		if o < 1 || o > 8 {
			t.Fatalf("orientation %d", o)
		}
		m := orient(&RGB{Width: 3, Height: 2, Pix: []uint8{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}}, o)
		if m.Width*m.Height != 6 || len(m.Pix) != 18 {
			t.Fatalf("orient(%d) gave %dx%d", o, m.Width, m.Height)
		}
		if len(data) > 4 && data[0] == 0xFF && data[1] == 0xD8 {
			// The whole JPEG path must not panic either.
			_, _, _ = Decode(data, 1<<16)
		}
	})
}
