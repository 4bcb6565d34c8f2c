package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"

	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/tflite"
)

// mobileNetFile is the shared MobileNetV2 part (d) runs: uint8, 224x224,
// 1001 ImageNet classes.
const mobileNetFile = "mobilenet_v2_1.0_224_quant.tflite"

// mobileNetFiles returns the .tflite file of part (d) and its float32
// twin as ONNX, generated once by scripts/gen_mobilenet_onnx.py into
// .cache/bench/ (the weights come from ../shared/models, so the twin stays
// out of the repository).
func mobileNetFiles(o *options, stderr io.Writer) (tfl, onnxPath string, err error) {
	tfl = filepath.Join(o.root, "..", "shared", "models", mobileNetFile)
	if !fileExists(tfl) {
		return "", "", fmt.Errorf("%s is missing (../shared/models)", tfl)
	}
	onnxPath = filepath.Join(o.root, ".cache", "bench", "mobilenet_v2_1.0_224_float.onnx")
	if fileExists(onnxPath) {
		return tfl, onnxPath, nil
	}
	py := "/usr/bin/python3"
	if !fileExists(py) {
		py = "python3"
	}
	fmt.Fprintln(stderr, "bench: writing MobileNetV2's float twin as ONNX with scripts/gen_mobilenet_onnx.py")
	cmd := exec.Command(py, filepath.Join(o.root, "scripts", "gen_mobilenet_onnx.py"), "--tflite", tfl, "--out", onnxPath+".tmp")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("scripts/gen_mobilenet_onnx.py (needs python3 with torch and onnx): %v\n%s", err, out)
	}
	return tfl, onnxPath, os.Rename(onnxPath+".tmp", onnxPath)
}

// mobileNetQDQ returns the int8 (QDQ) ONNX twin of the .tflite file,
// written once by scripts/gen_tflite_qdq_onnx.py into .cache/bench/, for
// ONNX Runtime's own integer kernels.
func mobileNetQDQ(o *options, tfl string, stderr io.Writer) (string, error) {
	path := filepath.Join(o.root, ".cache", "bench", "mobilenet_v2_1.0_224_qdq.onnx")
	if fileExists(path) {
		return path, nil
	}
	py := "/usr/bin/python3"
	if !fileExists(py) {
		py = "python3"
	}
	fmt.Fprintln(stderr, "bench: writing MobileNetV2's int8 QDQ twin as ONNX with scripts/gen_tflite_qdq_onnx.py")
	cmd := exec.Command(py, filepath.Join(o.root, "scripts", "gen_tflite_qdq_onnx.py"), "--tflite", tfl, "--out", path+".tmp")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("scripts/gen_tflite_qdq_onnx.py (needs python3 with numpy and onnx): %v\n%s", err, out)
	}
	return path, os.Rename(path+".tmp", path)
}

// ortInt8Entries are ONNX Runtime's rows on the int8 QDQ twin (keys
// ortq1, ortq2), or none, with the reason, when it cannot run.
func (b engineBench) ortInt8Entries(o *options, tfl string, stderr io.Writer) ([]engineEntry, string, func()) {
	path, err := mobileNetQDQ(o, tfl, stderr)
	if err != nil {
		return nil, err.Error(), func() {}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err.Error(), func() {}
	}
	list, _, _, why, closeAll := b.ortEntries(data, stderr)
	for i := range list {
		list[i].key = "ortq" + list[i].cpus
		list[i].name = "ONNX Runtime int8 (QDQ)"
	}
	return list, why, closeAll
}

// mobileNet is part (d): MobileNetV2 at 224, the native engine (the
// .tflite file, weights dequantized, float32; and its integer path, 8-bit
// kernels) against ONNX Runtime on the same weights in float32.
func mobileNet(o *options, w, stderr io.Writer) error {
	fmt.Fprintln(w, "\n== (d) inference engines: MobileNetV2 1.0 at 224 (float32; int8 rows: the native integer path), one image ==")
	tflPath, onnxPath, err := mobileNetFiles(o, stderr)
	if err != nil {
		fmt.Fprintf(w, "SKIPPED: %v\n", err)
		return nil
	}
	data, err := os.ReadFile(tflPath)
	if err != nil {
		return err
	}
	native, err := tflite.Load(data, engine.WithInteger(engine.IntegerOff))
	if err != nil {
		return fmt.Errorf("native engine, %s: %w", mobileNetFile, err)
	}
	integer, err := tflite.Load(data, engine.WithInteger(engine.IntegerOn))
	if err != nil {
		return fmt.Errorf("native engine, integer path, %s: %w", mobileNetFile, err)
	}
	onnxData, err := os.ReadFile(onnxPath)
	if err != nil {
		return err
	}
	size := native.InputShape().Size()
	rng := rand.New(rand.NewPCG(uint64(o.seed), 4))
	xs := make([]float32, o.batch*size)
	for i := range xs {
		xs[i] = rng.Float32()
	}
	b := engineBench{o: o, x: xs[:size], size: size, procs: runtime.GOMAXPROCS(0)}
	list := []engineEntry{
		{key: "native", name: "native (.tflite, dequantized)", cpus: fmt.Sprint(b.procs), p: native, batch: b.nativeBatch(native)},
		{key: "native1", name: "native (.tflite, dequantized)", cpus: "1", procs: 1, p: native, batch: b.nativeBatch(native)},
		{key: "int8", name: "native int8 (.tflite, integer, " + tflite.IntegerKernels() + ")", cpus: fmt.Sprint(b.procs), p: integer, batch: b.nativeBatch(integer)},
		{key: "int81", name: "native int8 (.tflite, integer, " + tflite.IntegerKernels() + ")", cpus: "1", procs: 1, p: integer, batch: b.nativeBatch(integer)},
	}
	intCheck := fmt.Sprintf("max |native int8 - native float32| over %d random images = %.2g (the integer model's rounding)", o.batch,
		maxDiff(outputs(integer, xs, o.batch, size), outputs(native, xs, o.batch, size)))
	ortEntries, ortVersion, lib, why, closeORT := b.ortEntries(onnxData, stderr)
	defer closeORT()
	check := "ONNX Runtime not run"
	if len(ortEntries) > 0 {
		check = fmt.Sprintf("max |ORT - native| over %d random images = %.2g (1001 softmax outputs each)", o.batch,
			maxDiff(outputs(ortEntries[0].p, xs, o.batch, size), outputs(native, xs, o.batch, size)))
	}
	list = append(list, ortEntries...)
	in := native.InputShape()
	gflop := 2 * float64(native.MACs()) / 1e9
	fmt.Fprintf(w, "model: %s, input %dx%dx%d, %d params, %.3f GFLOP per image; native backend %q; ", mobileNetFile, in.H, in.W, in.C, native.Params(), gflop, native.Backend())
	if ortVersion != "" {
		fmt.Fprintf(w, "ONNX Runtime %s (%s), float32 twin by scripts/gen_mobilenet_onnx.py\n", ortVersion, lib)
	} else {
		fmt.Fprintf(w, "ONNX Runtime SKIPPED: %s\n", why)
	}
	fmt.Fprintln(w, check)
	fmt.Fprintln(w, intCheck)
	if len(ortEntries) > 0 {
		q, why, closeQ := b.ortInt8Entries(o, tflPath, stderr)
		defer closeQ()
		if len(q) > 0 {
			fmt.Fprintf(w, "ONNX Runtime int8: the file's quantization as a QDQ graph (scripts/gen_tflite_qdq_onnx.py), max |ORT int8 - native int8| over %d random images = %.2g\n",
				o.batch, maxDiff(outputs(q[0].p, xs, o.batch, size), outputs(integer, xs, o.batch, size)))
			list = append(list, q...)
		} else {
			fmt.Fprintf(w, "ONNX Runtime int8 SKIPPED: %s\n", why)
		}
	}
	rows := map[string]*engineRow{}
	for _, e := range list {
		rows[e.key] = b.measure(e)
	}
	b.printRows(w, list, rows, gflop, in)
	if o1, o2 := rows["ort1"], rows["ort2"]; o1 != nil && o2 != nil {
		b.printRatios(w, rows, o1, o2)
	}
	return nil
}
