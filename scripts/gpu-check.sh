#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: builds kvscope with CUDA, runs the CUDA tests (and the CUDA
# kernel tests under compute-sanitizer when it is there), generates with kvscope-cli on
# synthetic models on the GPU (and the CPU, for comparison), and writes a report.
#
#   bash scripts/gpu-check.sh [REPORT_DIR]      (default: $OUT when set, else build-gpu/)
#
# Made for the lent GPU machines (root, nothing reachable outside): it uses the cmake, ninja,
# g++ and nvcc found there, and the dependencies that machine lacks (nlohmann-json,
# GoogleTest) from .gpu-deps/prefix, made beforehand on a Debian machine by
# scripts/gpu-deps-pack.sh and carried along. Without GoogleTest it still builds and runs the
# CLI figures, and says the tests were not built.
#
# Environment: KVSCOPE_GPU_BUILD_DIR (build-gpu), KVSCOPE_GPU_ARCH (the device's, e.g. 90),
# KVSCOPE_GPU_QUICK=1 (one small model), KVSCOPE_GPU_SKIP_TESTS=1 (figures only).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
build=${KVSCOPE_GPU_BUILD_DIR:-build-gpu}
report_dir=${1:-${OUT:-$build}}
mkdir -p "$report_dir" "$build"
report=$report_dir/gpu-report.md
log=$report_dir/gpu-check.log
: >"$log"
models=$build/models
mkdir -p "$models"
quick=${KVSCOPE_GPU_QUICK:-0}
jobs=$(nproc 2>/dev/null || echo 4)

say() { echo "$*" | tee -a "$log"; }
run_logged() {  # run_logged NAME CMD...: output to the log, status returned
    say "\$ $*"
    "$@" >>"$log" 2>&1
}
notes=()
note() { notes+=("$*"); say "note: $*"; }

# ---- 1. tools: what this machine has -----------------------------------------------------
first_of() { for c in "$@"; do if command -v "$c" >/dev/null 2>&1; then command -v "$c"; return 0; fi; done; return 1; }
export PATH="$PATH:/usr/local/cuda/bin"
cmake_bin=$(first_of cmake /opt/torch/.venv/bin/cmake) || { say "gpu-check: no cmake on this machine"; exit 1; }
ninja_bin=$(first_of ninja /opt/torch/.venv/bin/ninja) || ninja_bin=""
nvcc_bin=$(first_of nvcc) || { say "gpu-check: no nvcc on this machine"; exit 1; }
cxx_bin=$(first_of g++ c++ clang++) || { say "gpu-check: no C++ compiler on this machine"; exit 1; }
py=$(first_of python3 python) || py=""
generator="Unix Makefiles"
if [ -n "$ninja_bin" ]; then generator=Ninja; else note "no ninja: using Unix Makefiles"; fi

gpu_line=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader 2>/dev/null | head -1)
arch=${KVSCOPE_GPU_ARCH:-$(echo "$gpu_line" | awk -F', ' '{print $4}' | tr -d '.')}
if [ -z "$arch" ]; then arch=90; note "nvidia-smi gave no compute capability: building for sm_90"; fi
say "gpu: ${gpu_line:-unknown}"
say "tools: $("$cmake_bin" --version | head -1); $("$nvcc_bin" --version | tail -2 | head -1); $("$cxx_bin" --version | head -1)"

# ---- 2. configure and build ----------------------------------------------------------------
prefix_args=()
if [ -d "$root/.gpu-deps/prefix" ]; then prefix_args=(-DCMAKE_PREFIX_PATH="$root/.gpu-deps/prefix"); fi
has_gtest=0
for f in "$root"/.gpu-deps/prefix/lib*/cmake/GTest/GTestConfig.cmake "$root"/.gpu-deps/prefix/lib/*/cmake/GTest/GTestConfig.cmake \
    /usr/lib*/cmake/GTest/GTestConfig.cmake /usr/lib/*/cmake/GTest/GTestConfig.cmake \
    /usr/local/lib*/cmake/GTest/GTestConfig.cmake /usr/local/lib/*/cmake/GTest/GTestConfig.cmake; do
    if [ -e "$f" ]; then has_gtest=1; fi
done
tests=ON
if [ "$has_gtest" = 0 ]; then
    tests=OFF
    note "no GoogleTest (run scripts/gpu-deps-pack.sh on a Debian machine and carry .gpu-deps): tests not built"
fi
start=$(date +%s)
# One executable per test file (KVSCOPE_GROUP_TESTS=OFF): step 3 runs three of them by name.
run_logged "$cmake_bin" -S . -B "$build" -G "$generator" -DCMAKE_BUILD_TYPE=Release -DKVSCOPE_GUI=OFF \
    -DKVSCOPE_CUDA=ON -DKVSCOPE_BENCHMARKS=OFF -DKVSCOPE_GROUP_TESTS=OFF -DKVSCOPE_TESTS=$tests -DCMAKE_CUDA_ARCHITECTURES="$arch" \
    -DCMAKE_CXX_COMPILER="$cxx_bin" -DCMAKE_CUDA_COMPILER="$nvcc_bin" ${ninja_bin:+-DCMAKE_MAKE_PROGRAM="$ninja_bin"} \
    "${prefix_args[@]}" || { say "gpu-check: configure failed (see $log)"; tail -30 "$log"; exit 1; }
run_logged "$cmake_bin" --build "$build" -j "$jobs" ||
    { say "gpu-check: build failed (see $log)"; tail -40 "$log"; exit 1; }
build_s=$(($(date +%s) - start))
say "built in ${build_s}s for sm_$arch"
cli=$build/kvscope-cli

# ---- 3. tests ------------------------------------------------------------------------------
test_summary="not built"
sanitizer_summary="not run"
if [ "$tests" = ON ] && [ "${KVSCOPE_GPU_SKIP_TESTS:-0}" != 1 ]; then
    # The CUDA instances (names ending in /cuda) first, then the whole suite.
    for t in device_kernels_test forward_test swap_test; do
        run_logged "$build/tests/$t" --gtest_filter='*/cuda' --gtest_brief=1
        say "$t (cuda): exit $?"
    done
    (cd "$build" && ctest -j "$jobs" --output-on-failure >>"$log" 2>&1)
    test_summary=$(grep -E "tests passed|tests failed" "$log" | tail -1)
    say "ctest: $test_summary"
    sanitizer=$(first_of compute-sanitizer /usr/local/cuda/bin/compute-sanitizer) || sanitizer=""
    if [ -n "$sanitizer" ]; then
        if run_logged "$sanitizer" --tool memcheck --error-exitcode 99 "$build/tests/device_kernels_test" \
            --gtest_filter='*/cuda' --gtest_brief=1; then
            sanitizer_summary="memcheck clean"
        else
            sanitizer_summary="memcheck FAILED (see the log)"
        fi
        say "compute-sanitizer: $sanitizer_summary"
    fi
fi

# ---- 4. figures: kvscope-cli on synthetic models ------------------------------------------
figures=()
prompts=$build/prompts.jsonl
: >"$prompts"
for i in $(seq 1 32); do echo "{\"prompt\": \"Request $i: once upon a time there was a\"}" >>"$prompts"; done

# generate MODEL BACKEND MAX_TOKENS PROMPTS_ARGS... -> "wall_s tokens tok/s mean_decode_tok/s ttft_ms"
measure() {
    local model=$1 backend=$2 max_tokens=$3
    shift 3
    local out=$build/gen-$backend.jsonl t0 t1
    t0=$(date +%s.%N)
    "$cli" generate --model "$model" --backend "$backend" --max-tokens "$max_tokens" --temperature 0 \
        --ignore-eos --json "$@" >"$out" 2>>"$log" || { echo "failed"; return; }
    t1=$(date +%s.%N)
    [ -n "$py" ] || { echo "(no python to read the JSON)"; return; }
    "$py" - "$out" "$t0" "$t1" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
wall = float(sys.argv[3]) - float(sys.argv[2])
tokens = sum(len(r["token_ids"]) for r in rows)
decode = [r["timings"]["decode_tokens_per_s"] for r in rows if r["timings"]["decode_tokens_per_s"] > 0]
ttft = [r["timings"]["ttft_s"] for r in rows]
print(f"{wall:.2f} s, {tokens} tokens, {tokens / wall:.1f} tok/s overall, "
      f"{sum(decode) / max(len(decode), 1):.1f} tok/s per sequence decoding, "
      f"TTFT mean {1000 * sum(ttft) / len(ttft):.0f} ms")
PY
}

# Perplexity of the embedded model on resources/texts/kite_story.txt (ctx 128, F16 cache) on the CPU,
# which also stores its distributions, then on CUDA compared with them (KL divergence).
perplexity_vs_cpu() {
    local base=$build/cpu.kvkld cpu gpu
    cpu=$("$cli" perplexity --backend cpu --file "$root/resources/texts/kite_story.txt" --ctx 128 --cache-dtype f16 \
        --kl-divergence-base "$base" --json 2>>"$log") || { echo "cpu run failed"; return; }
    gpu=$("$cli" perplexity --backend cuda --kl-divergence "$base" --cache-dtype f16 --json 2>>"$log") ||
        { echo "cuda run failed"; return; }
    [ -n "$py" ] || { echo "(no python to read the JSON)"; return; }
    "$py" - "$cpu" "$gpu" <<'PY'
import json, sys
cpu, gpu = json.loads(sys.argv[1]), json.loads(sys.argv[2])
k = gpu["kl_divergence"]
print(f"PPL cpu {cpu['ppl']:.4f}, cuda {gpu['ppl']:.4f} (llama.cpp: 5.1727); cuda's KL divergence from cpu "
      f"{k['kld_mean']:.2e} (max {k['kld_max']:.2e}), same top token {100 * k['same_top']:.1f} %")
PY
}

make_model() {  # make_model NAME PRESET TYPE
    local path=$models/$1.gguf
    [ -f "$path" ] || run_logged "$cli" make-model --preset "$2" --type "$3" --out "$path" >/dev/null
    echo "$path"
}

if [ -x "$cli" ]; then
    # Same greedy tokens on both backends (the embedded model)?
    a=$("$cli" generate --backend cuda --prompt "Once upon a time" --max-tokens 40 --temperature 0 --json 2>>"$log")
    b=$("$cli" generate --backend cpu --prompt "Once upon a time" --max-tokens 40 --temperature 0 --json 2>>"$log")
    same="differ"
    if [ -n "$py" ] && "$py" -c "import json,sys; sys.exit(0 if json.loads(sys.argv[1])['token_ids']==json.loads(sys.argv[2])['token_ids'] else 1)" "$a" "$b"; then
        same="identical"
    fi
    figures+=("stories260K greedy 40 tokens, cuda vs cpu: token ids $same")
    figures+=("stories260K perplexity, cuda vs cpu: $(perplexity_vs_cpu)")
    fallback=$("$cli" generate --backend auto --prompt x --max-tokens 1 --json 2>&1 >/dev/null | grep -m1 "using the CPU backend")
    if [ -n "$fallback" ]; then note "the 'cuda' figures below ran on the CPU: $fallback"; fi

    if [ "$quick" = 1 ]; then
        specs=("smollm-q8_0 smollm-135m q8_0")
    else
        specs=("llama1b-q4_0 llama-3.2-1b q4_0" "llama1b-q4_k llama-3.2-1b q4_k" "llama1b-f16 llama-3.2-1b f16"
               "qwen05b-q8_0 qwen2.5-0.5b q8_0")
    fi
    for spec in "${specs[@]}"; do
        read -r name preset type <<<"$spec"
        model=$(make_model "$name" "$preset" "$type")
        [ -f "$model" ] || { figures+=("$name: make-model failed"); continue; }
        figures+=("$name, 1 sequence x 128 tokens, cuda: $(measure "$model" cuda 128 --prompt 'Once upon a time')")
        figures+=("$name, 32 sequences x 128 tokens, cuda: $(measure "$model" cuda 128 --prompts "$prompts")")
        figures+=("$name, 32 sequences x 128 tokens, cuda, no graphs: $(KVSCOPE_CUDA_GRAPHS=0 measure "$model" cuda 128 --prompts "$prompts")")
        figures+=("$name, 32 sequences x 128 tokens, cuda, q8_0 KV, swap preemption, 64 blocks: $(measure "$model" cuda 128 --prompts "$prompts" --cache-dtype q8_0 --kv-cache-blocks 64 --preemption-mode swap)")
        figures+=("$name, 1 sequence x 16 tokens, cpu ($jobs threads): $(measure "$model" cpu 16 --prompt 'Once upon a time')")
    done
    if "$cli" bench --help >/dev/null 2>&1; then
        model=$(make_model llama1b-q4_0 llama-3.2-1b q4_0)
        if run_logged "$cli" bench --model "$model" --backend cuda; then
            figures+=("kvscope-cli bench --backend cuda on llama1b-q4_0: see the log")
        else
            figures+=("kvscope-cli bench --backend cuda: failed (options may differ; see the log)")
        fi
    fi
fi

# ---- 5. the report -------------------------------------------------------------------------
{
    echo "# kvscope GPU check"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "- commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo "- GPU (name, driver, memory, compute capability): ${gpu_line:-unknown}"
    echo "- build: sm_$arch, ${build_s}s, $generator, $("$nvcc_bin" --version | tail -2 | head -1)"
    echo "- tests: ${test_summary}; compute-sanitizer: ${sanitizer_summary}"
    echo
    echo "## Figures"
    for f in "${figures[@]}"; do echo "- $f"; done
    if [ ${#notes[@]} -gt 0 ]; then
        echo
        echo "## Notes"
        for n in "${notes[@]}"; do echo "- $n"; done
    fi
} >"$report"
cat "$report"
