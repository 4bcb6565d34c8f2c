package imageprep

// EXIF orientation.
//
// Cameras and phones store a JPEG as the sensor reads it and record in the
// Exif Orientation tag (0x0112) how to turn it upright. Pillow's
// ImageOps.exif_transpose applies that tag; we apply it the same way to the
// decoded RGB before resizing, so a portrait photo reaches the model
// upright.
//
// The parser is hand-written rather than a dependency: we need one tag from
// one IFD, the module has no EXIF library, and a small parser over
// untrusted bytes is easier to audit for bounds than a general one. It
// reads only the first APP1 "Exif\0\0" segment before the first SOS (the
// one Pillow keeps), its TIFF header and IFD0's entry table; it never
// follows the next-IFD or sub-IFD pointers, so a hostile file cannot make
// it loop, and every offset is checked against the segment before use.
// Anything malformed gives orientation 1 (leave the image as it is).

import "encoding/binary"

// exifOrientation returns the Exif Orientation (1 to 8) of the JPEG data,
// or 1 when there is none or the Exif data is malformed.
func exifOrientation(data []byte) int {
	if len(data) < 2 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	// Each step advances p by at least 1, so the walk ends.
	for p := 2; p+2 <= len(data); {
		if data[p] != 0xFF {
			return 1
		}
		marker := data[p+1]
		switch {
		case marker == 0xFF: // fill byte
			p++
			continue
		case marker == 0x01, marker >= 0xD0 && marker <= 0xD8: // no length
			p += 2
			continue
		case marker == 0xD9, marker == 0xDA: // EOI, SOS: no more headers
			return 1
		}
		if p+4 > len(data) {
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || n > len(data)-p-2 {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xE1 && len(seg) >= 6 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads the Orientation tag from IFD0 of the TIFF
// structure b (the Exif payload). A SHORT or LONG value of count 1 in 1..8
// counts; a later entry for the tag overrides an earlier one, as in
// Pillow's tag dictionary. An IFD0 whose entry table does not fit in b is
// ignored entirely.
func tiffOrientation(b []byte) int {
	if len(b) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(b[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := uint64(bo.Uint32(b[4:]))
	if off > uint64(len(b)) || uint64(len(b))-off < 2 {
		return 1
	}
	count := int(bo.Uint16(b[off:]))
	entries := b[off+2:]
	if count > len(entries)/12 {
		return 1
	}
	orientation := 1
	for i := 0; i < count; i++ {
		e := entries[12*i : 12*i+12]
		if bo.Uint16(e) != 0x0112 || bo.Uint32(e[4:]) != 1 {
			continue
		}
		var v uint32
		switch bo.Uint16(e[2:]) {
		case 3: // SHORT
			v = uint32(bo.Uint16(e[8:]))
		case 4: // LONG
			v = bo.Uint32(e[8:])
		default:
			continue
		}
		if v >= 1 && v <= 8 {
			orientation = int(v)
		}
	}
	return orientation
}

// orient returns m turned upright according to Exif orientation o, as
// Pillow's ImageOps.exif_transpose does: 2 flips left-right, 3 rotates
// 180 degrees, 4 flips top-bottom, 5 transposes, 6 rotates 90 degrees
// clockwise (Pillow's ROTATE_270), 7 transverses and 8 rotates 90 degrees
// counter-clockwise (ROTATE_90). Orientations 5 to 8 swap width and
// height. Any other o returns m itself.
func orient(m *RGB, o int) *RGB {
	if o < 2 || o > 8 {
		return m
	}
	w, h := m.Width, m.Height
	ow, oh := w, h
	if o >= 5 {
		ow, oh = h, w
	}
	out := NewRGB(ow, oh)
	for y := 0; y < oh; y++ {
		for x := 0; x < ow; x++ {
			var sx, sy int
			switch o {
			case 2:
				sx, sy = w-1-x, y
			case 3:
				sx, sy = w-1-x, h-1-y
			case 4:
				sx, sy = x, h-1-y
			case 5:
				sx, sy = y, x
			case 6:
				sx, sy = y, h-1-x
			case 7:
				sx, sy = w-1-y, h-1-x
			case 8:
				sx, sy = w-1-y, x
			}
			copy(out.Pix[3*(y*ow+x):][:3], m.Pix[3*(sy*w+sx):])
		}
	}
	return out
}
