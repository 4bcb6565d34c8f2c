//go:build ort

package main

import (
	"fmt"

	ort "github.com/yalue/onnxruntime_go"
)

// ortBatch makes a session of the ONNX model data on ONNX Runtime (already
// initialized by ort.Load) with the given intra-op threads, and
// returns a function that runs n copies of the HWC image x as one batch
// tensor [n,...], laying the images out (transposing to NCHW if the model
// wants it) into the input tensor at each call, as a server batching
// requests would, and returns the batch's first output.
func ortBatch(data []byte, threads, n int, x []float32) (run func() (float32, error), closeFn func(), err error) {
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, nil, err
	}
	if len(ins) != 1 || len(outs) != 1 || len(ins[0].Dimensions) != 4 {
		return nil, nil, fmt.Errorf("want one image input and one output, got %d and %d", len(ins), len(outs))
	}
	d := ins[0].Dimensions
	nchw := d[1] == 3
	h, w := int(d[2]), int(d[3])
	if !nchw {
		h, w = int(d[1]), int(d[2])
	}
	size := h * w * 3
	if len(x) != size {
		return nil, nil, fmt.Errorf("image of %d values, model wants %d", len(x), size)
	}
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), d[1], d[2], d[3]))
	if err != nil {
		return nil, nil, err
	}
	od := outs[0].Dimensions.Clone()
	od[0] = int64(n)
	out, err := ort.NewEmptyTensor[float32](od)
	if err != nil {
		in.Destroy()
		return nil, nil, err
	}
	so, err := ort.NewSessionOptions()
	if err != nil {
		in.Destroy()
		out.Destroy()
		return nil, nil, err
	}
	defer so.Destroy()
	if err = so.SetIntraOpNumThreads(threads); err == nil {
		err = so.SetInterOpNumThreads(1)
	}
	var sess *ort.DynamicAdvancedSession
	if err == nil {
		sess, err = ort.NewDynamicAdvancedSessionWithONNXData(data, []string{ins[0].Name}, []string{outs[0].Name}, so)
	}
	if err != nil {
		in.Destroy()
		out.Destroy()
		return nil, nil, err
	}
	buf := in.GetData()
	plane := h * w
	run = func() (float32, error) {
		for i := range n {
			dst := buf[i*size : (i+1)*size]
			if !nchw {
				copy(dst, x)
				continue
			}
			for p := range plane {
				dst[p], dst[plane+p], dst[2*plane+p] = x[3*p], x[3*p+1], x[3*p+2]
			}
		}
		if err := sess.Run([]ort.Value{in}, []ort.Value{out}); err != nil {
			return 0, err
		}
		return out.GetData()[0], nil
	}
	closeFn = func() {
		sess.Destroy()
		in.Destroy()
		out.Destroy()
	}
	return run, closeFn, nil
}
