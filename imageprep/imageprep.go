// Package imageprep turns uploaded image bytes into the model's float32 input
// tensor: it recognises PNG, JPEG and GIF by their magic bytes, refuses
// images whose header declares too many pixels before decoding any of them,
// converts the decoded image to 8-bit RGB, turns a JPEG upright by its Exif
// Orientation tag (as Pillow's ImageOps.exif_transpose does), resizes it
// with Pillow's antialiased resampling (bit-identical to
// PIL.Image.open(f).convert("RGB").resize((w, h), filter)) and scales the
// bytes to [0,1] in channels-last (HWC) order. DecodeForSize, which the
// classifier uses, decodes a large JPEG at a reduced size instead (1/8,
// 2/8 or 4/8 for one of at least twice the model's input, internal/jpegscale; n/8
// for any larger than the input with libjpeg-turbo in a libjpeg build), which
// is much faster and changes the tensor by at most 0.08 per value and
// 0.004 on average (TestDecodeForSizeScenes).
//
// The input is untrusted: every failure is reported as an *Error whose Kind
// says whether the bytes are not an image we accept, declare too many
// pixels, or do not decode.
package imageprep

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/gif"
	"image/jpeg"
	"image/png"

	"github.com/huskyai/huskyai"
)

// DefaultMaxPixels is the pixel limit (width*height, as declared by the
// image header) used when Options.MaxPixels or Decode's maxPixels is zero.
const DefaultMaxPixels = 40_000_000

// Options say what tensor Prepare makes.
type Options struct {
	// Width and Height are the model's input size; both must be positive.
	Width, Height int
	// MaxPixels bounds width*height as declared by the image header; zero
	// (or a negative value) means DefaultMaxPixels.
	MaxPixels int64
	// Filter is the resampling filter; the zero value is Bicubic.
	Filter Filter
	// CenterCrop, in (0, 1), makes DecodeResized take the central square
	// of that fraction of the shorter side (RGB.CenterCrop) before
	// resizing, as ImageNet models are evaluated; 0 or 1: the whole image.
	// Prepare ignores it.
	CenterCrop float64
}

// Info describes an image as its header declares it (huskyai.ImageInfo).
type Info = huskyai.ImageInfo

// Kind classifies an Error.
type Kind int

const (
	// Unsupported means the bytes are not PNG, JPEG or GIF (judged by
	// their magic bytes only), including empty input.
	Unsupported Kind = iota + 1
	// TooLarge means the header declares more pixels than allowed.
	TooLarge
	// Undecodable means the header or the image data is truncated,
	// corrupt or inconsistent, or declares an empty (zero-width or
	// zero-height) image.
	Undecodable
)

// String returns "unsupported", "too large" or "undecodable".
func (k Kind) String() string {
	switch k {
	case Unsupported:
		return "unsupported"
	case TooLarge:
		return "too large"
	case Undecodable:
		return "undecodable"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Error is the error returned for images that cannot be used.
type Error struct {
	Kind Kind
	// Format is the sniffed format ("png", "jpeg", "gif"), empty for
	// Unsupported.
	Format string
	// Width and Height are the size declared by the header, when it was
	// read.
	Width, Height int
	// Err is the underlying decoder error, if any.
	Err error
	// limit is the pixel limit, for TooLarge messages.
	limit int64
	// prefix holds the first bytes of an Unsupported input.
	prefix []byte
}

// Error says what is wrong and where, such as
// "imageprep: jpeg header declares 40000x40000 = 1600000000 pixels, more than
// the limit of 40000000".
func (e *Error) Error() string {
	switch e.Kind {
	case Unsupported:
		if len(e.prefix) == 0 {
			return "imageprep: empty input is not an image"
		}
		return fmt.Sprintf("imageprep: unsupported image format: not PNG, JPEG or GIF (starts with % x)", e.prefix)
	case TooLarge:
		return fmt.Sprintf("imageprep: %s header declares %dx%d = %d pixels, more than the limit of %d",
			e.Format, e.Width, e.Height, int64(e.Width)*int64(e.Height), e.limit)
	case Undecodable:
		if e.Width == 0 && e.Height == 0 && !errors.Is(e.Err, errEmpty) {
			return fmt.Sprintf("imageprep: reading %s header: %v", e.Format, e.Err)
		}
		return fmt.Sprintf("imageprep: decoding %dx%d %s: %v", e.Width, e.Height, e.Format, e.Err)
	}
	return fmt.Sprintf("imageprep: %s %s: %v", e.Kind, e.Format, e.Err)
}

// Unwrap returns the underlying decoder error.
func (e *Error) Unwrap() error { return e.Err }

var errEmpty = errors.New("the header declares an empty image")

var (
	magicPNG   = []byte("\x89PNG\r\n\x1a\n")
	magicJPEG  = []byte("\xff\xd8\xff")
	magicGIF87 = []byte("GIF87a")
	magicGIF89 = []byte("GIF89a")
)

// Sniff reports the image format of data, judged by its magic bytes only:
// "png", "jpeg" or "gif", and ok false for anything else.
func Sniff(data []byte) (format string, ok bool) {
	switch {
	case bytes.HasPrefix(data, magicPNG):
		return "png", true
	case bytes.HasPrefix(data, magicJPEG):
		return "jpeg", true
	case bytes.HasPrefix(data, magicGIF87), bytes.HasPrefix(data, magicGIF89):
		return "gif", true
	}
	return "", false
}

// Decode sniffs data, reads its header and refuses it (TooLarge) if the
// declared width*height exceeds maxPixels (zero or negative means
// DefaultMaxPixels); only then does it decode the pixels, converting them
// to RGB with FromImage. A GIF yields its first frame, on its logical
// screen as Pillow shows it; a JPEG is turned upright by its Exif
// Orientation tag, as Pillow's ImageOps.exif_transpose does. The format is returned whenever it was
// recognised, also with an error; errors are *Error.
func Decode(data []byte, maxPixels int64) (*RGB, string, error) {
	m, _, format, err := decode(data, maxPixels)
	return m, format, err
}

// header sniffs data and reads its header: the format and the declared
// size (as stored, before any Exif orientation), refused with Decode's
// errors when the format is unknown, the header broken or empty, or
// the size over maxPixels (zero or negative: DefaultMaxPixels).
func header(data []byte, maxPixels int64) (image.Config, Info, error) {
	format, ok := Sniff(data)
	if !ok {
		return image.Config{}, Info{}, &Error{Kind: Unsupported, prefix: bytes.Clone(data[:min(len(data), 8)])}
	}
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	info := Info{Format: format}
	var cfg image.Config
	var err error
	switch format {
	case "png":
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	case "jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case "gif":
		cfg, err = gif.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return cfg, info, &Error{Kind: Undecodable, Format: format, Err: err}
	}
	w, h := cfg.Width, cfg.Height
	info.Width, info.Height = w, h
	if w <= 0 || h <= 0 {
		return cfg, info, &Error{Kind: Undecodable, Format: format, Width: w, Height: h, Err: errEmpty}
	}
	if int64(w)*int64(h) > maxPixels {
		return cfg, info, &Error{Kind: TooLarge, Format: format, Width: w, Height: h, limit: maxPixels}
	}
	return cfg, info, nil
}

func decode(data []byte, maxPixels int64) (*RGB, Info, string, error) {
	d, info, format, err := decodeImage(data, maxPixels)
	if err != nil {
		return nil, info, format, err
	}
	return d.toRGB(), info, format, nil
}

// decoded is an image as its decoder returned it, before its conversion to
// RGB (decodeImage).
type decoded struct {
	img image.Image // what image/png or image/jpeg returned; nil for a GIF
	rgb *RGB        // a GIF's first frame on its screen
	// orientation is a JPEG's Exif orientation (1 to 8), which turns img
	// upright; 1 for other formats.
	orientation int
}

// toRGB converts the image to RGB and turns it upright.
func (d decoded) toRGB() *RGB {
	if d.rgb != nil {
		return d.rgb
	}
	return orient(FromImage(d.img), d.orientation)
}

// decodeImage decodes data after the header checks; the Info is upright
// (width and height swapped for Exif orientations 5 to 8).
func decodeImage(data []byte, maxPixels int64) (decoded, Info, string, error) {
	cfg, info, err := header(data, maxPixels)
	format := info.Format
	if err != nil {
		return decoded{}, info, format, err
	}
	w, h := cfg.Width, cfg.Height
	undecodable := func(err error) (decoded, Info, string, error) {
		return decoded{}, info, format, &Error{Kind: Undecodable, Format: format, Width: w, Height: h, Err: err}
	}
	var img image.Image
	switch format {
	case "png":
		img, err = png.Decode(bytes.NewReader(data))
	case "jpeg":
		img, err = jpeg.Decode(bytes.NewReader(data))
	case "gif":
		if img, err = gif.Decode(bytes.NewReader(data)); err == nil {
			g, ok := img.(*image.Paletted)
			if !ok || !g.Rect.In(image.Rect(0, 0, w, h)) {
				return undecodable(errors.New("gif: frame outside the logical screen"))
			}
			return decoded{rgb: gifToRGB(g, data, w, h), orientation: 1}, info, format, nil
		}
	}
	if err != nil {
		return undecodable(err)
	}
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		return undecodable(fmt.Errorf("decoded %dx%d image differs from its header", b.Dx(), b.Dy()))
	}
	d := decoded{img: img, orientation: 1}
	if format == "jpeg" {
		// As Pillow's ImageOps.exif_transpose (see exif.go).
		if o := exifOrientation(data); o >= 2 && o <= 8 {
			d.orientation = o
			if o >= 5 {
				info.Width, info.Height = h, w
			}
		}
	}
	return d, info, format, nil
}

// Prepare decodes data (Decode), resizes it to opt.Width x opt.Height with
// opt.Filter (Resize) and writes the tensor into dst (RGB.Tensor), returning
// it. The Info describes the image as far as it was read, also on error.
// Errors about the image are *Error; invalid options give a plain error.
func Prepare(data []byte, opt Options, dst []float32) ([]float32, Info, error) {
	if opt.Width <= 0 || opt.Height <= 0 {
		return dst, Info{}, fmt.Errorf("imageprep: invalid output size %dx%d", opt.Width, opt.Height)
	}
	if _, err := opt.Filter.get(); err != nil {
		return dst, Info{}, err
	}
	m, info, _, err := decode(data, opt.MaxPixels)
	if err != nil {
		return dst, info, err
	}
	if m.Width != opt.Width || m.Height != opt.Height {
		m = Resize(m, opt.Width, opt.Height, opt.Filter)
	}
	return m.Tensor(dst), info, nil
}
