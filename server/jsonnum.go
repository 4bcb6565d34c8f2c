package server

// jsonnum.go reads the nested arrays of numbers of tensor requests
// straight into float32s: encoding/json would first make a []any of
// float64s, several times the memory of the tensor, before any check.

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// parseNumbers reads the numbers of the JSON array raw, flat or nested,
// at most max of them, each within [0, 1]. Nested arrays must be
// rectangular; shape is their nesting ([len] for a flat array).
func parseNumbers(raw []byte, max int) (x []float32, shape []int, err error) {
	p := numParser{b: raw, max: max, out: make([]float32, 0, max)}
	shape, err = p.value(0)
	if err == nil {
		p.skip()
		if p.i != len(p.b) || shape == nil {
			err = errors.New("data must be an array of numbers")
		}
	}
	return p.out, shape, err
}

// numParser reads nested arrays of numbers from valid JSON.
type numParser struct {
	b   []byte
	i   int
	max int
	out []float32
}

// maxNesting bounds the depth of nested data arrays.
const maxNesting = 8

func (p *numParser) skip() {
	for p.i < len(p.b) && (p.b[p.i] == ' ' || p.b[p.i] == '\t' || p.b[p.i] == '\n' || p.b[p.i] == '\r') {
		p.i++
	}
}

// value reads a number (shape nil) or an array (its shape) at p.i.
func (p *numParser) value(depth int) ([]int, error) {
	p.skip()
	if p.i >= len(p.b) {
		return nil, errors.New("data ends early")
	}
	c := p.b[p.i]
	if c == '-' || c >= '0' && c <= '9' {
		j := p.i
		for j < len(p.b) && strings.IndexByte("+-.0123456789eE", p.b[j]) >= 0 {
			j++
		}
		f, err := strconv.ParseFloat(string(p.b[p.i:j]), 32)
		if err != nil || !(f >= 0 && f <= 1) {
			return nil, fmt.Errorf("value %s at index %d: values must be numbers scaled to [0, 1]", p.b[p.i:j], len(p.out))
		}
		if len(p.out) == p.max {
			return nil, fmt.Errorf("more than the %d values of the shape", p.max)
		}
		p.out = append(p.out, float32(f))
		p.i = j
		return nil, nil
	}
	if c != '[' {
		return nil, fmt.Errorf("data must hold numbers only, found %q", c)
	}
	if depth == maxNesting {
		return nil, fmt.Errorf("data is nested more than %d deep", maxNesting)
	}
	p.i++
	p.skip()
	if p.i < len(p.b) && p.b[p.i] == ']' {
		p.i++
		return []int{0}, nil
	}
	var elem []int
	for n := 0; ; n++ {
		sh, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			elem = sh
		} else if !slices.Equal(sh, elem) {
			return nil, errors.New("nested arrays of different lengths")
		}
		p.skip()
		if p.i < len(p.b) && p.b[p.i] == ',' {
			p.i++
			continue
		}
		if p.i < len(p.b) && p.b[p.i] == ']' {
			p.i++
			return append([]int{n + 1}, elem...), nil
		}
		return nil, errors.New("malformed data array")
	}
}
