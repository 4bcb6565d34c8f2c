package main

import (
	"errors"
	"fmt"

	"github.com/huskyai/huskyai/classifier"
	"github.com/huskyai/huskyai/engine"
	"github.com/huskyai/huskyai/engine/ort"
)

// engineFlags choose the inference engine of predict and serve: huskyai's
// own (native), or ONNX Runtime (ort), which only a binary built with
// -tags ort has.
type engineFlags struct {
	engine     string
	ortLib     string
	ortThreads int
	quantized  string
	classes    classFlags // --positive-classes, --labels, --center-crop: classes.go
}

// register adds --engine, --ort-lib and --ort-threads; getenv gives their
// defaults where the command reads environment variables that way
// (predict), nil where it applies them after parsing (serve, serveEnv).
func (f *engineFlags) register(fs flagDefiner, getenv func(string) string) {
	env := func(name, def string) string {
		if getenv != nil {
			if v := getenv(name); v != "" {
				return v
			}
		}
		return def
	}
	note := func(name string) string {
		if getenv != nil {
			return " (env " + name + ")"
		}
		return ""
	}
	fs.StringVar(&f.engine, "engine", env("HUSKYAI_ENGINE", "native"), "inference engine: native, or ort (ONNX Runtime: ONNX models only, needs a binary built with -tags ort and --ort-lib)"+note("HUSKYAI_ENGINE"))
	fs.StringVar(&f.ortLib, "ort-lib", env(ort.EnvLib, ""), "with --engine ort: path of libonnxruntime.so (scripts/fetch-onnxruntime.sh fetches it); default: the dynamic linker's search"+note(ort.EnvLib))
	fs.IntVar(&f.ortThreads, "ort-threads", 1, "with --engine ort: intra-op threads per inference")
	fs.StringVar(&f.quantized, "quantized", env("HUSKYAI_QUANTIZED", "auto"), "how the native engine runs a quantized (uint8/int8) TFLite model: integer (8-bit integer kernels, TFLite's arithmetic), float (weights dequantized, float32), or auto: integer where the CPU runs its AVX-512 VNNI or AVX2 kernels, else float"+note("HUSKYAI_QUANTIZED"))
	f.classes.register(fs, env, note)
}

// errNoORT is the answer of a binary built without ONNX Runtime.
var errNoORT = errors.New("--engine ort: " + ort.ErrNotBuilt.Error())

// quantizedModes are the values of --quantized.
var quantizedModes = map[string]engine.Integer{"auto": engine.IntegerAuto, "integer": engine.IntegerOn, "float": engine.IntegerOff}

// check validates the flags.
func (f *engineFlags) check() error {
	if _, ok := quantizedModes[f.quantized]; !ok {
		return fmt.Errorf("--quantized %q: want auto, integer or float", f.quantized)
	}
	switch f.engine {
	case "native":
		return nil
	case "ort":
		if !ort.Available {
			return errNoORT
		}
		if f.ortThreads < 1 || f.ortThreads > 1024 {
			return fmt.Errorf("--ort-threads %d is outside 1..1024", f.ortThreads)
		}
		return nil
	}
	return fmt.Errorf("--engine %q: want native or ort", f.engine)
}

// apply makes opt load models on the chosen engine.
func (f *engineFlags) apply(opt *classifier.Options) error {
	if err := f.check(); err != nil {
		return err
	}
	if err := f.classes.apply(opt); err != nil {
		return err
	}
	if f.engine != "ort" {
		opt.Model = append(opt.Model, engine.WithInteger(quantizedModes[f.quantized]))
		return nil
	}
	o := ort.Options{Lib: f.ortLib, Threads: f.ortThreads}
	opt.Engine = func(data []byte) (classifier.Engine, classifier.EngineInfo, error) {
		if classifier.Format(data) == classifier.FormatKeras {
			return nil, classifier.EngineInfo{}, errors.New("--engine ort runs ONNX models only, and this is a Keras file (the embedded default model is one too): give an ONNX --model, or use --engine native")
		}
		s, err := ort.Load(data, o)
		if err != nil {
			return nil, classifier.EngineInfo{}, err
		}
		return s, classifier.EngineInfo{Name: s.Name(), Format: "onnx", Engine: "onnxruntime " + ort.Version()}, nil
	}
	return nil
}
