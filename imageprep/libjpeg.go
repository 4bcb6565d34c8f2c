//go:build cgo && libjpeg

package imageprep

// The libjpeg build (go build -tags libjpeg, with cgo and libjpeg-turbo's
// headers, Debian's libjpeg62-turbo-dev): DecodeForSize decodes JPEGs
// through libjpeg-turbo with DCT-domain downscaling. The default build has
// no cgo and uses libjpeg_stub.go.
//
// libjpeg's default error handler calls exit(); ours (hp_error_exit)
// longjmps back into hp_decode, which cleans up and reports failure. Its
// warnings (such as "Premature end of JPEG file", after which libjpeg
// would fill the rest with grey and carry on) are treated as failures too.
// Any failure sends the image to the pure-Go decoder, which then decides
// whether it decodes and with which error Kind, so the libjpeg build
// accepts and refuses exactly what the default build does.

/*
#cgo LDFLAGS: -ljpeg
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <jpeglib.h>

struct hp_err {
	struct jpeg_error_mgr pub;
	jmp_buf jb;
};

static void hp_error_exit(j_common_ptr c) {
	longjmp(((struct hp_err *)c->err)->jb, 1);
}

// Warnings (level -1) are failures; trace messages are ignored.
static void hp_emit_message(j_common_ptr c, int level) {
	if (level < 0) {
		longjmp(((struct hp_err *)c->err)->jb, 1);
	}
}

static void hp_output_message(j_common_ptr c) {}

typedef struct {
	int width, height;   // declared by the header
	int out_w, out_h;    // decoded
	int scale_num;       // of 8
	unsigned char *pix;  // out_w*out_h*3 bytes, malloc'd; the caller frees it
} hp_result;

enum { HP_OK = 0, HP_FAIL = 1, HP_UNSUPPORTED = 2, HP_NOMEM = 3 };

// hp_decode decodes the JPEG data at the smallest scale n/8 (n = 1..8)
// whose output is at least minw x minh, as 8-bit RGB.
static int hp_decode(const unsigned char *data, unsigned long n, int minw, int minh, hp_result *r) {
	struct jpeg_decompress_struct cinfo;
	struct hp_err jerr;
	unsigned char *volatile pix = NULL;
	int num;

	memset(&cinfo, 0, sizeof cinfo);
	memset(r, 0, sizeof *r);
	cinfo.err = jpeg_std_error(&jerr.pub);
	jerr.pub.error_exit = hp_error_exit;
	jerr.pub.emit_message = hp_emit_message;
	jerr.pub.output_message = hp_output_message;
	if (setjmp(jerr.jb)) {
		jpeg_destroy_decompress(&cinfo);
		free(pix);
		return HP_FAIL;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, n);
	jpeg_read_header(&cinfo, TRUE);
	r->width = cinfo.image_width;
	r->height = cinfo.image_height;
	if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK ||
			cinfo.jpeg_color_space == JCS_UNKNOWN) {
		jpeg_destroy_decompress(&cinfo);
		return HP_UNSUPPORTED;
	}
	cinfo.out_color_space = JCS_RGB;
	cinfo.dct_method = JDCT_ISLOW;
	cinfo.do_fancy_upsampling = TRUE;
	cinfo.scale_denom = 8;
	for (num = 1; num <= 8; num++) {
		cinfo.scale_num = num;
		jpeg_calc_output_dimensions(&cinfo);
		if ((int)cinfo.output_width >= minw && (int)cinfo.output_height >= minh) {
			break;
		}
	}
	if (num > 8) {
		num = 8;
		cinfo.scale_num = 8;
	}
	r->scale_num = num;
	jpeg_start_decompress(&cinfo);
	if (cinfo.output_components != 3) {
		jpeg_destroy_decompress(&cinfo);
		return HP_UNSUPPORTED;
	}
	r->out_w = cinfo.output_width;
	r->out_h = cinfo.output_height;
	pix = malloc((size_t)r->out_w * (size_t)r->out_h * 3);
	if (pix == NULL) {
		jpeg_destroy_decompress(&cinfo);
		return HP_NOMEM;
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = pix + (size_t)cinfo.output_scanline * (size_t)r->out_w * 3;
		if (jpeg_read_scanlines(&cinfo, &row, 1) != 1) {
			// Suspension cannot happen with a memory source; be safe.
			jpeg_destroy_decompress(&cinfo);
			free(pix);
			return HP_FAIL;
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	r->pix = pix;
	return HP_OK;
}
*/
import "C"

import "unsafe"

const libjpegBuild = true

// decodeJPEGScaled decodes a JPEG through libjpeg-turbo at the largest DCT
// reduction that keeps the upright image at least minW x minH. ok is false
// when it did not decode the image, leaving it to the pure-Go path: not a
// JPEG, a header that Decode would refuse (so that the refusal is Decode's
// own), CMYK or YCCK colour, or any libjpeg error or warning.
func decodeJPEGScaled(data []byte, maxPixels int64, minW, minH int) (*RGB, Info, bool) {
	// The same header check as decode, before any pixel is decoded.
	cfg, o, ok := scalableJPEG(data, maxPixels)
	if !ok {
		return nil, Info{}, false
	}
	if o >= 5 {
		// The minimum applies to the upright image.
		minW, minH = minH, minW
	}
	var r C.hp_result
	rc := C.hp_decode((*C.uchar)(unsafe.Pointer(unsafe.SliceData(data))), C.ulong(len(data)), C.int(minW), C.int(minH), &r)
	if rc != C.HP_OK {
		return nil, Info{}, false
	}
	defer C.free(unsafe.Pointer(r.pix))
	w, h := int(r.out_w), int(r.out_h)
	if int(r.width) != cfg.Width || int(r.height) != cfg.Height || w <= 0 || h <= 0 || w > cfg.Width || h > cfg.Height {
		return nil, Info{}, false
	}
	m := NewRGB(w, h)
	copy(m.Pix, unsafe.Slice((*byte)(unsafe.Pointer(r.pix)), len(m.Pix)))
	m, info := upright(m, cfg, o)
	return m, info, true
}
