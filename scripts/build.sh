#!/usr/bin/env bash
# Configures and builds kvscope (Release, Ninja) in ./build, or in $KVSCOPE_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${KVSCOPE_BUILD_DIR:-build}"
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build "$build_dir"
