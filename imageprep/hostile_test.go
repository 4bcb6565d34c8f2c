package imageprep

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"runtime"
	"testing"
)

// pngHeader returns a PNG signature and a valid IHDR chunk (8-bit RGB)
// declaring w x h, and nothing else.
func pngHeader(w, h uint32) []byte {
	var b bytes.Buffer
	b.Write(magicPNG)
	ihdr := make([]byte, 0, 17)
	ihdr = append(ihdr, "IHDR"...)
	ihdr = binary.BigEndian.AppendUint32(ihdr, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	ihdr = append(ihdr, 8, 2, 0, 0, 0)
	b.Write(binary.BigEndian.AppendUint32(nil, 13))
	b.Write(ihdr)
	b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(ihdr)))
	return b.Bytes()
}

// jpegHeader returns SOI, a JFIF APP0 segment and a baseline SOF0 for a
// 4:2:0 YCbCr image of w x h, and nothing else.
func jpegHeader(w, h uint16) []byte {
	b := []byte{0xff, 0xd8}
	b = append(b, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 1, 0, 0, 1, 0, 1, 0, 0)
	b = append(b, 0xff, 0xc0, 0, 17, 8, byte(h>>8), byte(h), byte(w>>8), byte(w), 3,
		1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0)
	return b
}

// gifHeader returns a GIF89a header and logical screen descriptor of w x h
// with no colour table, and nothing else.
func gifHeader(w, h uint16) []byte {
	b := append([]byte(nil), magicGIF89...)
	b = binary.LittleEndian.AppendUint16(b, w)
	b = binary.LittleEndian.AppendUint16(b, h)
	return append(b, 0, 0, 0)
}

func kindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return 0
}

func TestHugeHeaders(t *testing.T) {
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"png", pngHeader(50000, 50000)},
		{"jpeg", jpegHeader(50000, 50000)},
		{"gif", gifHeader(50000, 50000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, format, err := Decode(tc.data, 0)
			runtime.ReadMemStats(&after)
			if kindOf(err) != TooLarge || format != tc.name {
				t.Fatalf("Decode: format %q, error %v; want %s, TooLarge", format, err, tc.name)
			}
			want := "imageprep: " + tc.name + " header declares 50000x50000 = 2500000000 pixels, more than the limit of 40000000"
			if err.Error() != want {
				t.Errorf("message %q\nwant %q", err, want)
			}
			var e *Error
			errors.As(err, &e)
			if e.Width != 50000 || e.Height != 50000 || e.Format != tc.name {
				t.Errorf("error fields %+v", e)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 10<<20 {
				t.Errorf("allocated %d bytes refusing it", n)
			}
			allocs := testing.AllocsPerRun(10, func() { Decode(tc.data, 0) })
			_, info, err := Prepare(tc.data, Options{Width: 128, Height: 128}, nil)
			if kindOf(err) != TooLarge || info != (Info{Format: tc.name, Width: 50000, Height: 50000}) {
				t.Errorf("Prepare: %+v, %v", info, err)
			}
			t.Logf("%s: %d bytes, %.0f allocations to refuse", tc.name, after.TotalAlloc-before.TotalAlloc, allocs)
		})
	}
}

func TestLimit(t *testing.T) {
	data := jpegHeader(40000, 40000)
	_, _, err := Decode(data, 0)
	if want := "imageprep: jpeg header declares 40000x40000 = 1600000000 pixels, more than the limit of 40000000"; err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
	m := loadManifest(t)
	png300 := readFixture(t, "rgb_300x200.png")
	if m.Images[1].File != "rgb_300x200.png" {
		t.Fatal("manifest order changed")
	}
	if _, _, err := Decode(png300, 300*200-1); kindOf(err) != TooLarge {
		t.Errorf("limit 59999: %v", err)
	}
	if _, _, err := Decode(png300, 300*200); err != nil {
		t.Errorf("limit 60000: %v", err)
	}
	if _, _, err := Decode(gifHeader(0, 10), 0); kindOf(err) != Undecodable {
		t.Errorf("0x10 gif: %v", err)
	} else {
		t.Log(err)
	}
}

func TestUnsupported(t *testing.T) {
	for _, data := range [][]byte{nil, {}, []byte("GIF8"), []byte("\x89PNG\r\n"), []byte("<html>"), []byte("BM6\x00\x00\x00"), []byte("RIFF\x00\x00\x00\x00WEBPVP8 ")} {
		_, format, err := Decode(data, 0)
		if kindOf(err) != Unsupported || format != "" {
			t.Errorf("%q: format %q, error %v", data, format, err)
		}
	}
	_, _, err := Decode(nil, 0)
	if err.Error() != "imageprep: empty input is not an image" {
		t.Errorf("empty: %v", err)
	}
	_, _, err = Decode([]byte("<html><body>"), 0)
	t.Log(err)
}

func TestUndecodable(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]byte, 4096)
	for i := range noise {
		noise[i] = byte(rng.Uint32())
	}
	pngData := readFixture(t, "rgb_64x48.png")
	for _, tc := range []struct {
		name, format string
		data         []byte
	}{
		{"png magic + noise", "png", append(append([]byte(nil), magicPNG...), noise...)},
		{"jpeg magic + noise", "jpeg", append(append([]byte(nil), magicJPEG...), noise...)},
		{"gif header + noise", "gif", append(gifHeader(64, 48), noise...)},
		{"gif magic + png", "gif", append(append([]byte(nil), magicGIF89...), pngData[8:]...)},
		{"jpeg magic + png", "jpeg", append(append([]byte(nil), magicJPEG...), pngData[8:]...)},
		{"png header only", "png", pngHeader(64, 48)},
		{"jpeg header only", "jpeg", jpegHeader(64, 48)},
		{"gif header only", "gif", gifHeader(64, 48)},
		{"png, corrupt IDAT", "png", corrupt(pngData, 60)},
	} {
		_, format, err := Decode(tc.data, 0)
		if kindOf(err) != Undecodable || format != tc.format {
			t.Errorf("%s: format %q, error %v", tc.name, format, err)
			continue
		}
		t.Logf("%s: %v", tc.name, err)
	}
}

func corrupt(b []byte, at int) []byte {
	b = bytes.Clone(b)
	for i := at; i < at+16 && i < len(b); i++ {
		b[i] ^= 0x5a
	}
	return b
}

// TestTruncated cuts every fixture at many points: each cut must fail
// cleanly (no panic) with Unsupported inside the magic and Undecodable
// after it, except a GIF cut after its first frame, which still decodes.
func TestTruncated(t *testing.T) {
	m := loadManifest(t)
	n := 0
	for _, im := range m.Images {
		data := readFixture(t, im.File)
		step := max(1, len(data)/97)
		for cut := 0; cut < len(data); cut += step {
			if cut > 64 && cut < len(data)-64 && step > 1 {
				cut += rand.IntN(step) // vary the offsets within a step
				if cut >= len(data) {
					break
				}
			}
			n++
			rgb, _, err := Decode(data[:cut], 0)
			switch {
			case cut < 3 || (im.Format != "jpeg" && cut < 6) || (im.Format == "png" && cut < 8):
				if kindOf(err) != Unsupported {
					t.Errorf("%s[:%d]: %v, want Unsupported", im.File, cut, err)
				}
			case err == nil:
				if im.Format != "gif" || rgb.Width != im.Width || rgb.Height != im.Height {
					t.Errorf("%s[:%d] of %d decoded", im.File, cut, len(data))
				}
			case kindOf(err) != Undecodable:
				t.Errorf("%s[:%d]: %v, want Undecodable", im.File, cut, err)
			}
		}
	}
	t.Logf("%d truncations", n)
}

// TestHostileNoPanic throws mutated fixtures at Prepare; the decoders
// return errors, so nothing may panic (there is no recover in the package).
func TestHostileNoPanic(t *testing.T) {
	m := loadManifest(t)
	rng := rand.New(rand.NewPCG(3, 4))
	for _, im := range m.Images {
		data := readFixture(t, im.File)
		for i := 0; i < 30; i++ {
			b := bytes.Clone(data)
			for j := 0; j < 1+rng.IntN(8); j++ {
				b[rng.IntN(len(b))] = byte(rng.Uint32())
			}
			x, _, err := Prepare(b, Options{Width: 32, Height: 24, MaxPixels: 1 << 20}, nil)
			if err == nil && len(x) != 32*24*3 {
				t.Fatalf("tensor of %d values", len(x))
			}
		}
	}
}

func TestGray16HighByte(t *testing.T) {
	g := image.NewGray16(image.Rect(0, 0, 3, 1))
	for i, v := range []uint16{0x0000, 0x12ff, 0xff00} {
		g.SetGray16(i, 0, color.Gray16{v})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, g); err != nil {
		t.Fatal(err)
	}
	m, _, err := Decode(b.Bytes(), 0)
	if err != nil {
		t.Fatal(err)
	}
	// Pillow 9.4 would give 0, 255, 255 (mode "I" clipped); see FromImage.
	if want := []uint8{0, 0, 0, 0x12, 0x12, 0x12, 0xff, 0xff, 0xff}; !bytes.Equal(m.Pix, want) {
		t.Errorf("got %v, want %v", m.Pix, want)
	}
}
