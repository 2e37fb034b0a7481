#!/usr/bin/env bash
# Builds the fuzz targets (tests/fuzz) with clang's libFuzzer, ASan and UBSan in build-fuzz
# (or $KVSCOPE_FUZZ_DIR), then fuzzes each one for a while, coverage-guided.
#   scripts/fuzz.sh [SECONDS_PER_TARGET [TARGET...]]     default 60 s; targets: gguf tokenizer request
# New corpus entries go to build-fuzz/tests/fuzz-work/<target> (the seed corpus in tests/fuzz/corpus
# is only read); a crash or leak is written to build-fuzz/crashes/ and stops the run with its
# stack. Rerun one with `build-fuzz/tests/fuzz_<target>_fuzz build-fuzz/crashes/<file>`, and make
# it a regression test (see docs/RELIABILITY.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(gguf tokenizer request)
build_dir="${KVSCOPE_FUZZ_DIR:-build-fuzz}"
cxx="${CXX_FUZZ:-$(command -v clang++ || command -v clang++-14 || true)}"
[ -n "$cxx" ] || { echo "fuzz.sh: clang++ not found (Debian: apt-get install clang)" >&2; exit 1; }
launcher=()
if command -v ccache >/dev/null; then
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER="$cxx" \
    -DKVSCOPE_LIBFUZZER=ON -DKVSCOPE_GUI=OFF -DKVSCOPE_CUDA=OFF -DKVSCOPE_BENCHMARKS=OFF "${launcher[@]}"
# shellcheck disable=SC2046
cmake --build "$build_dir" --target $(printf 'fuzz_%s_fuzz ' "${targets[@]}")

export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$PWD/tests/sanitizers/ubsan.supp"
export ASAN_OPTIONS="detect_leaks=1"
mkdir -p "$build_dir/crashes"
for t in "${targets[@]}"; do
    work="$build_dir/tests/fuzz-work/$t"
    mkdir -p "$work"
    echo "=== fuzz_${t}_fuzz: ${seconds} s"
    "$build_dir/tests/fuzz_${t}_fuzz" -max_total_time="$seconds" -max_len=65536 -print_final_stats=1 \
        -artifact_prefix="$build_dir/crashes/${t}-" "$work" "tests/fuzz/corpus/$t"
done
