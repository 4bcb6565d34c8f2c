package jpegscale

// Decode returns the image of a JPEG at n/8 of its size (n = scale: 1, 2
// or 4), ceil(w*n/8) x ceil(h*n/8) pixels, R, G, B of each, row by row,
// each the mean of the 8/n x 8/n pixels it stands for (at 1/8, the
// block's DC: ((DC*Q + 4) >> 3) + 128, clamped, as libjpeg's scale 1/8
// gives it); ok is false for a JPEG it does not handle or finds anything
// wrong with: progressive or arithmetic coding, 12-bit samples, 2 or 4
// components, Adobe RGB, sampling factors that do not divide, several
// scans, missing tables, a bad Huffman code, a restart marker out of
// place or data that ends early. It applies no Exif orientation.
func Decode(data []byte, scale int) (pix []uint8, w, h int, ok bool) {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return nil, 0, 0, false
	}
	var d decoder
	for i := 2; ; {
		for i < len(data) && data[i] == 0xFF && i+1 < len(data) && data[i+1] == 0xFF {
			i++ // fill bytes before a marker
		}
		if i+4 > len(data) || data[i] != 0xFF {
			return nil, 0, 0, false
		}
		m := data[i+1]
		n := int(data[i+2])<<8 | int(data[i+3])
		if m == 0xD8 || m == 0xD9 || m >= 0xD0 && m <= 0xD7 || m == 0x01 || n < 2 || i+2+n > len(data) {
			return nil, 0, 0, false
		}
		seg := data[i+4 : i+2+n]
		i += 2 + n
		if m == 0xDA { // SOS: the one scan, which must hold every component
			if !d.sos(seg) || !decodeScan(data[i:], d.comps, &d.q, d.w, d.h, d.ri, scale) {
				return nil, 0, 0, false
			}
			pix, w, h = pixels(d.comps, d.w, d.h, scale)
			return pix, w, h, true
		}
		if !d.segment(m, seg) {
			return nil, 0, 0, false
		}
	}
}

// decoder is what the segments before the scan say.
type decoder struct {
	q        [4][64]int32 // quantization tables, in zigzag order
	qSet     [4]bool
	tabs     [2][4]*huffTable // DC and AC Huffman tables
	comps    []scanComp
	w, h     int
	ri       int // restart interval, in MCUs
	adobeRGB bool
}

// segment takes in the segment of marker m (other than SOS); false means
// Decode declines the JPEG.
func (d *decoder) segment(m byte, seg []byte) bool {
	switch {
	case m == 0xDB:
		return d.dqt(seg)
	case m == 0xC4:
		return d.dht(seg)
	case m == 0xC0 || m == 0xC1: // baseline or extended sequential, Huffman
		return d.sof(seg)
	case m >= 0xC2 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC:
		return false // progressive, lossless, arithmetic, hierarchical
	case m == 0xDD: // DRI
		if len(seg) != 2 {
			return false
		}
		d.ri = int(seg[0])<<8 | int(seg[1])
	case m == 0xEE: // Adobe: transform 0 means the components are RGB
		if len(seg) >= 12 && string(seg[:5]) == "Adobe" && seg[11] == 0 {
			d.adobeRGB = true
		}
	}
	return true
}

// dqt reads quantization tables: only the DC quantizer (the first value)
// matters, but all are kept.
func (d *decoder) dqt(seg []byte) bool {
	for len(seg) > 0 {
		pq, tq := seg[0]>>4, seg[0]&15
		if tq > 3 {
			return false
		}
		switch {
		case pq == 0 && len(seg) >= 65:
			for z := range 64 {
				d.q[tq][z] = int32(seg[1+z])
			}
			seg = seg[65:]
		case pq == 1 && len(seg) >= 129:
			for z := range 64 {
				d.q[tq][z] = int32(seg[1+2*z])<<8 | int32(seg[2+2*z])
			}
			seg = seg[129:]
		default:
			return false
		}
		d.qSet[tq] = true
	}
	return true
}

// dht reads Huffman tables.
func (d *decoder) dht(seg []byte) bool {
	for len(seg) > 0 {
		if len(seg) < 17 {
			return false
		}
		tc, th := seg[0]>>4, seg[0]&15
		total := 0
		for _, c := range seg[1:17] {
			total += int(c)
		}
		if tc > 1 || th > 3 || len(seg) < 17+total {
			return false
		}
		t := new(huffTable)
		if !t.build(seg[1:17], seg[17:17+total]) {
			return false
		}
		d.tabs[tc][th], seg = t, seg[17+total:]
	}
	return true
}

// sof reads the frame header: size and components, 8-bit samples only.
func (d *decoder) sof(seg []byte) bool {
	if d.comps != nil || len(seg) < 6 || seg[0] != 8 {
		return false
	}
	d.h, d.w = int(seg[1])<<8|int(seg[2]), int(seg[3])<<8|int(seg[4])
	nc := int(seg[5])
	if d.w == 0 || d.h == 0 || nc != 1 && nc != 3 || len(seg) != 6+3*nc {
		return false
	}
	for c := range nc {
		p := seg[6+3*c:]
		cp := scanComp{id: int(p[0]), h: int(p[1] >> 4), v: int(p[1] & 15), tq: int(p[2])}
		if cp.h < 1 || cp.h > 4 || cp.v < 1 || cp.v > 4 || cp.tq > 3 {
			return false
		}
		d.comps = append(d.comps, cp)
	}
	return true
}

// sos reads the scan header: the one scan must hold every component,
// sequentially (spectral selection 0..63, no successive approximation).
func (d *decoder) sos(seg []byte) bool {
	comps := d.comps
	if comps == nil || d.adobeRGB && len(comps) == 3 || len(seg) < 1 || int(seg[0]) != len(comps) || len(seg) != 4+2*len(comps) {
		return false
	}
	for c := range comps {
		id, td, ta := int(seg[1+2*c]), int(seg[2+2*c]>>4), int(seg[2+2*c]&15)
		cp := &comps[c]
		if id != cp.id || td > 3 || ta > 3 || d.tabs[0][td] == nil || d.tabs[1][ta] == nil || !d.qSet[cp.tq] {
			return false
		}
		cp.dcTab, cp.acTab = d.tabs[0][td], d.tabs[1][ta]
	}
	ss, se, a := seg[1+2*len(comps)], seg[2+2*len(comps)], seg[3+2*len(comps)]
	return ss == 0 && se == 63 && a == 0
}
