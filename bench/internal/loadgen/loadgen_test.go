package loadgen

import (
	"bytes"
	"image/jpeg"
	"testing"
)

func TestCheckLoopback(t *testing.T) {
	for url, ok := range map[string]bool{
		"https://127.0.0.1:8443/": true,
		"http://[::1]:80/":        true,
		"https://10.0.0.1/":       false,
		"https://example.com/":    false,
		"ftp://127.0.0.1/":        false,
		"127.0.0.1:8443":          false,
	} {
		if err := CheckLoopback(url); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v", url, err)
		}
	}
}

func TestPhotoJPEG(t *testing.T) {
	b, err := PhotoJPEG(320, 240, 1)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width != 320 || cfg.Height != 240 {
		t.Fatalf("%dx%d, %v", cfg.Width, cfg.Height, err)
	}
	// Compresses like a photo: neither a flat card nor noise.
	if bpp := float64(len(b)) / (320 * 240); bpp < 0.1 || bpp > 1.5 {
		t.Errorf("%.2f bytes per pixel", bpp)
	}
	if c, _ := PhotoJPEG(320, 240, 1); !bytes.Equal(b, c) {
		t.Error("not reproducible")
	}
}
