package tflite

import (
	"testing"
	"github.com/huskyai/huskyai/engine"
)

func TestTryInt8(t *testing.T) {
	for _, f := range []string{"mobilenet_v2_1.0_224_quant.tflite", "tf2_mobilenet_v2_1.0_224_ptq.tflite", "mobilenet_v1_0.25_128_quant.tflite"} {
		fm, _ := Load(sharedModel(t, f))
		im, err := Load(sharedModel(t, f), engine.WithInteger(engine.IntegerOn))
		if err != nil { t.Fatal(err) }
		for k := 0; k < 2; k++ {
			x := testImage(k, fm.InputShape())
			a, _ := fm.Predict(nil, x)
			b, _ := im.Predict(nil, x)
			ta, tb := 0, 0
			var worst float64
			for i := range a { if a[i] > a[ta] { ta = i }; if b[i] > b[tb] { tb = i }; d := float64(a[i]-b[i]); if d < 0 { d = -d }; if d > worst { worst = d } }
			t.Logf("%s img %d: float top %d %.3f int top %d %.3f, worst %.4f", f, k, ta, a[ta], tb, b[tb], worst)
		}
	}
}
