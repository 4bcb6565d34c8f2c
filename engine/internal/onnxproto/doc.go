// Package onnxproto decodes the subset of the ONNX model format that a CNN
// inference engine needs: the model header, opset imports and metadata, and
// the main graph's nodes, attributes, initializers and input/output types.
//
// The decoder walks the protobuf wire format directly with
// [google.golang.org/protobuf/encoding/protowire] instead of using code
// generated from onnx.proto: the engine needs a small, bounded subset of the
// schema, and a hand-written walker makes it easy to be strict and to bound
// everything a hostile file can claim. In particular:
//
//   - Every length prefix is checked against the bytes that remain, and
//     element counts of repeated fields are derived from those bytes, so
//     nothing is allocated on the strength of a number in the file alone.
//   - Total tensor data is capped (see [Limits], 1 GiB by default), as are
//     the number of nodes and the rank of tensors and shapes ([MaxRank]).
//     Dimensions must be non-negative and their product must fit in int64.
//   - A tensor's data must match its dims and data type exactly.
//   - Unknown fields are skipped, as protobuf requires, but a known field
//     with the wrong wire type is an error. Repeated scalars are accepted
//     both packed and unpacked.
//   - Features the engine does not support are rejected with an error
//     rather than silently ignored: external data ([ErrExternalData]),
//     sparse initializers ([ErrSparseInitializer]) and segmented tensors.
//     Subgraphs in attributes (If, Loop, Scan) are skipped and flagged with
//     [Attribute.HasGraph]; model-local functions and training info are
//     skipped.
//
// Decode never panics on malformed input. Errors say what went wrong and
// where, for example:
//
//	onnx: graph.node[3] "conv1" attribute "kernel_shape": ints: truncated varint
//
// Only IR versions [MinIRVersion] to [MaxIRVersion] (3 to 10) are accepted.
package onnxproto
