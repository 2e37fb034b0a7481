#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite with ctest.
# The sanitizer runs are a separate step (scripts/sanitize.sh; CI runs them after this: .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
export QT_QPA_PLATFORM=offscreen
build_dir="${KVSCOPE_BUILD_DIR:-build}"
# Without a GPU the CUDA instances of the backend tests are skipped: say why, once, up front.
cuda_note=$("$build_dir/kvscope-cli" generate --backend auto --prompt x --max-tokens 1 --json 2>&1 >/dev/null |
    grep -m1 "using the CPU backend" || true)
echo "run-tests: ${cuda_note:-a CUDA device is present: the CUDA tests run}"
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
