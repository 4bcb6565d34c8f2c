package main

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/huskyai/huskyai/imageprep"
)

// prepSize is one of (b)'s generated JPEGs.
type prepSize struct {
	label string
	w, h  int
}

// prepSizeOf is the 4:3 image of about mp megapixels, its width a
// multiple of 16: 0.3 -> 640x480, 2 -> 1632x1224, 12 -> 4000x3000.
func prepSizeOf(mp float64) prepSize {
	w := int(math.Sqrt(mp*1e6*4/3)/16+0.5) * 16
	w = max(w, 16)
	return prepSize{label: strconv.FormatFloat(mp, 'g', -1, 64) + " MP", w: w, h: w * 3 / 4}
}

// prepResult is one cell of table (b).
type prepResult struct {
	lat            latency
	decode, resize time.Duration // means
	decW, decH     int
}

// A prepPath is a way of decoding a JPEG for the model.
type prepPath int

const (
	pathGo      prepPath = iota // image/jpeg, the whole image
	pathReduced                 // the default build: 1/8, 2/8 or 4/8 from the coefficients where that is big enough
	pathLibjpeg                 // libjpeg-turbo, DCT-scaled (a libjpeg build)
)

func (p prepPath) String() string {
	return [...]string{"pure Go (image/jpeg)", "pure Go, n/8 reduced (default)", "libjpeg-turbo, DCT-scaled"}[p]
}

// prepare is the classifier's preprocessing (classifier.Classify) with
// the decoder chosen: decode, antialiased bicubic resize to 128x128 and the
// [0,1] tensor, timed by stage.
func prepare(data []byte, path prepPath, dst []float32) (tensor []float32, m *imageprep.RGB, decode time.Duration, err error) {
	t0 := time.Now()
	switch path {
	case pathLibjpeg:
		m, _, err = imageprep.DecodeForSize(data, 0, 128, 128)
	case pathReduced:
		// What DecodeForSize does without libjpeg.
		var ok bool
		if m, _, ok = imageprep.DecodeJPEGReduced(data, 0, 128, 128); !ok {
			m, _, err = imageprep.Decode(data, 0)
		}
	default:
		m, _, err = imageprep.Decode(data, 0)
	}
	if err != nil {
		return dst, nil, 0, err
	}
	decode = time.Since(t0)
	dec := m
	if m.Width != 128 || m.Height != 128 {
		m = imageprep.Resize(m, 128, 128, imageprep.Bicubic)
	}
	return m.Tensor(dst), dec, decode, nil
}

// prep is part (b).
func prep(o *options, w io.Writer, sum *summary) error {
	fmt.Fprintln(w, "\n== (b) preprocessing per image: JPEG decode + antialiased bicubic resize to 128x128 + tensor, one goroutine ==")
	paths := []prepPath{pathGo, pathReduced}
	if imageprep.LibJPEG {
		paths = append(paths, pathLibjpeg)
	} else {
		fmt.Fprintln(w, "libjpeg path SKIPPED: this binary was built without -tags libjpeg (or without cgo)")
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "image\tJPEG bytes\tpath\tdecoded to\tp50\tmean\tdecode (mean)\tresize+tensor (mean)\timages/s\truns\t")
	type times struct{ p50, mean time.Duration }
	got := make([]map[prepPath]times, len(o.prepSizes))
	for i, s := range o.prepSizes {
		got[i] = map[prepPath]times{}
		data, err := photo(s.w, s.h, uint32(i+1))
		if err != nil {
			return err
		}
		for _, path := range paths {
			var res prepResult
			var dst []float32
			var decSum, totSum time.Duration
			runs := -1 // the first call is timeLoop's warm-up
			var perr error
			res.lat = timeLoop(o.cell, 3, func() {
				t := time.Now()
				var dec *imageprep.RGB
				var d time.Duration
				dst, dec, d, perr = prepare(data, path, dst)
				if dec != nil {
					res.decW, res.decH = dec.Width, dec.Height
				}
				if runs++; runs > 0 {
					decSum += d
					totSum += time.Since(t)
				}
			})
			if perr != nil {
				return fmt.Errorf("%s JPEG: %w", s.label, perr)
			}
			res.decode = decSum / time.Duration(runs)
			res.resize = (totSum - decSum) / time.Duration(runs)
			got[i][path] = times{res.lat.p50, res.lat.mean}
			if s.label == "12 MP" {
				switch path {
				case pathGo:
					sum.prep12Go = res.lat.p50
				case pathReduced:
					sum.prep12Reduced = res.lat.p50
				case pathLibjpeg:
					sum.prep12 = res.lat.p50
				}
			}
			fmt.Fprintf(tw, "%s %dx%d\t%d\t%s\t%dx%d\t%s\t%s\t%s\t%s\t%.1f\t%d\t\n", s.label, s.w, s.h, len(data), path,
				res.decW, res.decH, msf(res.lat.p50), msf(res.lat.mean), msf(res.decode), msf(res.resize),
				1/res.lat.mean.Seconds(), res.lat.n)
		}
	}
	tw.Flush()
	fmt.Fprintln(w, "\nratios pure Go (image/jpeg) / each path, same run, p50 (mean) (>1 means the path is faster)")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "image\t")
	for _, path := range paths[1:] {
		fmt.Fprintf(tw, "%s\t", path)
	}
	fmt.Fprintln(tw)
	for i, s := range o.prepSizes {
		fmt.Fprintf(tw, "%s\t", s.label)
		g := got[i][pathGo]
		for _, path := range paths[1:] {
			p := got[i][path]
			fmt.Fprintf(tw, "%s (%s)\t", ratio(float64(g.p50), float64(p.p50)), ratio(float64(g.mean), float64(p.mean)))
		}
		fmt.Fprintln(tw)
	}
	tw.Flush()
	fmt.Fprintln(w, "pure Go, n/8 reduced: JPEGs of at least 256x256 are decoded at 1/8, 2/8 or 4/8, the smallest that is at least 128x128, from their coefficients (imageprep.DecodeJPEGReduced); smaller ones by image/jpeg.")
	return nil
}
