// Package jpegscale decodes a baseline JPEG at 1/8, 2/8 or 4/8 of its
// size from its coefficients, without the full-size image.
//
// Each 8x8 block's DC coefficient is 8 times the block's mean, so the
// image at 1/8 scale (what libjpeg computes with scale_denom 8, the
// "1x1 IDCT") needs nothing else: the AC coefficients still have to be
// entropy-decoded, since Huffman codes have no index, but only to be
// skipped, which is one table lookup and one shift per code. At 2/8 and
// 4/8, and for chroma stored at a lower resolution than the output, each
// block gives the means of its 2x2 or 4x4 parts (or 2x1, ...), which are
// sums of its coefficients with fixed weights (segMean). That is where a
// big photo's decoding time goes, and why this is our own code:
// image/jpeg has no scaled decoding (it builds all 12 million pixels of a
// 12 MP photo, about 0.5 s here), and libjpeg-turbo needs cgo.
// Decode handles the JPEGs cameras and phones write (baseline
// or extended sequential Huffman, 8-bit, grey or YCbCr, one interleaved
// scan, restart markers) and declines everything else, which is then
// decoded in full.
package jpegscale
