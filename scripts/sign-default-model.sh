#!/bin/sh
# sign-default-model.sh re-signs the embedded default model,
# defaultmodel/huskymodel.h5, with a release key given by path, and writes
# its public key to defaultmodel/release.pub. Both files, and
# huskymodel.h5.sig, are embedded in the binary: the server verifies the
# embedded model against the embedded key, and runs the signature's
# self-test, at every start.
#
# Usage (from anywhere in the repository):
#
#   scripts/sign-default-model.sh RELEASE_KEY [RELEASE_PUB]
#
# RELEASE_KEY is the private key "huskyai keygen" wrote (NAME.key); never
# commit it, and keep it off build and serving machines. RELEASE_PUB
# defaults to the same NAME with .pub.
#
# Re-sign whenever huskymodel.h5 changes (train/train.py writes a new
# one): the tests (TestEmbeddedSignature) and every start of "huskyai
# serve" fail until the signature matches the model again.
#
# Rotate the release key:
#
#   go run ./cmd/huskyai keygen --out /secure/place/huskyai-release-2
#   scripts/sign-default-model.sh /secure/place/huskyai-release-2.key
#   go test ./defaultmodel/ ./modelstore/
#   git add defaultmodel/huskymodel.h5.sig defaultmodel/release.pub
#
# The signature carries a self-test: four small synthetic images (a colour
# gradient, a grey field, a checkerboard, stripes) generated here, each
# with the probability the model gives it. The images are the same at
# every run, so re-signing an unchanged model changes only created_at and
# the signature bytes.
set -eu

if [ $# -lt 1 ] || [ $# -gt 2 ]; then
	echo "usage: $0 RELEASE_KEY [RELEASE_PUB]" >&2
	exit 2
fi
key=$1
pub=${2:-${key%.key}.pub}
[ -f "$key" ] || { echo "$0: no private key $key" >&2; exit 1; }
[ -f "$pub" ] || { echo "$0: no public key $pub" >&2; exit 1; }

root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$root"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The check images: 128x128 (the model's input, so they need no resizing).
mkdir "$tmp/images"
cat >"$tmp/gen.go" <<'EOF'
package main

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
)

func main() {
	dir := os.Args[1]
	const n = 128
	imgs := map[string]func(x, y int) color.RGBA{
		"check-gradient.png": func(x, y int) color.RGBA { return color.RGBA{uint8(2 * x), uint8(2 * y), 128, 255} },
		"check-grey.png":     func(x, y int) color.RGBA { return color.RGBA{160, 160, 160, 255} },
		"check-checker.png": func(x, y int) color.RGBA {
			if (x/16+y/16)%2 == 0 {
				return color.RGBA{250, 250, 250, 255}
			}
			return color.RGBA{10, 10, 10, 255}
		},
		"check-stripes.png": func(x, y int) color.RGBA {
			if (x+y)/8%2 == 0 {
				return color.RGBA{200, 120, 40, 255}
			}
			return color.RGBA{40, 90, 200, 255}
		},
	}
	for name, at := range imgs {
		img := image.NewRGBA(image.Rect(0, 0, n, n))
		for y := range n {
			for x := range n {
				img.SetRGBA(x, y, at(x, y))
			}
		}
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			panic(err)
		}
		if err := png.Encode(f, img); err != nil {
			panic(err)
		}
		if err := f.Close(); err != nil {
			panic(err)
		}
	}
}
EOF
go run "$tmp/gen.go" "$tmp/images"

go run ./cmd/huskyai sign --force --key "$key" --check-images "$tmp/images" defaultmodel/huskymodel.h5
cp "$pub" defaultmodel/release.pub
go run ./cmd/huskyai verify --pub defaultmodel/release.pub defaultmodel/huskymodel.h5
echo "now run: go test ./defaultmodel/ ./modelstore/ && git add defaultmodel/huskymodel.h5.sig defaultmodel/release.pub"
