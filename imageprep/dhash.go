package imageprep

// DHash returns a 64-bit perceptual difference hash ("dHash") of m: the
// image is reduced to 9 x 8 cells of mean luma (ITU-R BT.601 weights),
// and bit 8*row+col is set when cell (col, row) is brighter than its
// right neighbour (col+1, row). Images that look alike have hashes few
// bits apart (count the bits of a^b), whatever their size, encoding or
// small changes of a few pixels; unrelated images are about 32 bits
// apart. It reads every pixel once. An empty image hashes to 0.
func (m *RGB) DHash() uint64 {
	const cols, rows = 9, 8
	w, h := m.Width, m.Height
	if w <= 0 || h <= 0 || len(m.Pix) < 3*w*h {
		return 0
	}
	// Cell (c, r) covers columns [c*w/cols, max((c+1)*w/cols, c*w/cols+1))
	// and likewise rows: a partition when the image is at least 9 x 8,
	// overlapping cells when it is smaller.
	var mean [rows][cols]float64
	for r := range rows {
		y0 := r * h / rows
		y1 := max((r+1)*h/rows, y0+1)
		for c := range cols {
			x0 := c * w / cols
			x1 := max((c+1)*w/cols, x0+1)
			var s uint64
			for y := y0; y < y1; y++ {
				row := m.Pix[3*(y*w+x0) : 3*(y*w+x1)]
				for i := 0; i < len(row); i += 3 {
					s += 299*uint64(row[i]) + 587*uint64(row[i+1]) + 114*uint64(row[i+2])
				}
			}
			mean[r][c] = float64(s) / float64((x1-x0)*(y1-y0))
		}
	}
	var hash uint64
	for r := range rows {
		for c := range cols - 1 {
			if mean[r][c] > mean[r][c+1] {
				hash |= 1 << (8*r + c)
			}
		}
	}
	return hash
}
