package evaluate

import (
	"fmt"
	"math"
	"strconv"
)

// Float is a float64 whose JSON form is rounded to 6 decimals, so that
// reports diff cleanly, and is null when the value is NaN or infinite: a
// metric that is undefined for the samples given. null decodes as NaN.
type Float float64

// Decimals is the number of decimals of a Float in JSON.
const Decimals = 6

// Defined reports whether f is a number, neither NaN nor infinite.
func (f Float) Defined() bool {
	return !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
}

// MarshalJSON writes f rounded to Decimals decimals, or null.
func (f Float) MarshalJSON() ([]byte, error) {
	if !f.Defined() {
		return []byte("null"), nil
	}
	scale := math.Pow10(Decimals)
	v := math.Round(float64(f)*scale) / scale
	if v == 0 {
		v = 0 // no "-0"
	}
	return strconv.AppendFloat(nil, v, 'f', -1, 64), nil
}

// UnmarshalJSON reads a number, or null as NaN.
func (f *Float) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*f = Float(math.NaN())
		return nil
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("evaluate.Float: %q is not a number or null", b)
	}
	*f = Float(v)
	return nil
}
