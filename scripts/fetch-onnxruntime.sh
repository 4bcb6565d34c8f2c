#!/usr/bin/env bash
# Fetches ONNX Runtime's shared library for the optional "ort" engine
# (go build -tags ort; huskyai --engine ort) into third_party/onnxruntime/
# (git-ignored) and prints the library's path.
#
# The library comes from the npm package onnxruntime-node, which ships a
# prebuilt libonnxruntime.so for linux/x64. The package is only unpacked
# ("npm pack" downloads the tarball): its install script is never run.
#
# The version is pinned to the ONNX Runtime C API that
# github.com/yalue/onnxruntime_go v1.27.0 was written against
# (onnxruntime_c_api.h: ORT_API_VERSION 24, i.e. onnxruntime 1.24.x; its
# README names 1.24.1). Override with ORT_VERSION=... at your own risk.
#
# Usage: scripts/fetch-onnxruntime.sh        (prints the .so path)
#        HUSKYAI_ORT_LIB=$(scripts/fetch-onnxruntime.sh) go test -tags ort ./...
set -euo pipefail
cd "$(dirname "$0")/.."

version=${ORT_VERSION:-1.24.1}
dest=third_party/onnxruntime
lib=$dest/libonnxruntime.so.$version

case "$(uname -s)/$(uname -m)" in
Linux/x86_64) member=package/bin/napi-v6/linux/x64/libonnxruntime.so.1 ;;
Linux/aarch64) member=package/bin/napi-v6/linux/arm64/libonnxruntime.so.1 ;;
*) echo "fetch-onnxruntime: no prebuilt library for $(uname -s)/$(uname -m)" >&2; exit 1 ;;
esac

if [ ! -s "$lib" ] || [ "$(readlink "$dest/libonnxruntime.so" 2>/dev/null)" != "libonnxruntime.so.$version" ]; then
	command -v npm >/dev/null || { echo "fetch-onnxruntime: npm is needed (apt-get install npm)" >&2; exit 1; }
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# npm pack only downloads and writes the tarball; nothing is installed
	# and no package script runs.
	tarball=$(cd "$tmp" && npm pack --silent --ignore-scripts "onnxruntime-node@$version" | tail -n 1)
	tar -xzf "$tmp/$tarball" -C "$tmp" "$member"
	mkdir -p "$dest"
	cp "$tmp/$member" "$lib.tmp"
	mv "$lib.tmp" "$lib"
	ln -sf "libonnxruntime.so.$version" "$dest/libonnxruntime.so"
	echo "fetch-onnxruntime: onnxruntime-node@$version -> $lib" >&2
fi
echo "$(pwd)/$dest/libonnxruntime.so"
