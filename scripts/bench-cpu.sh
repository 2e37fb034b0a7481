#!/usr/bin/env bash
# CPU benchmarks of docs/PERFORMANCE.md: makes the synthetic models (never committed) and runs
# kvscope-cli bench latency / roofline / batched / throughput on them, and llama.cpp's
# llama-bench on the same files when LLAMA_BENCH names its binary. Results (JSON and tables)
# go to $OUT, one file per run.
#
#   scripts/bench-cpu.sh                      # TinyLlama-1.1B shapes in Q4_0 Q8_0 Q4_K F16 F32
#   PRESETS="tinyllama-1.1b llama-3.2-1b qwen2.5-0.5b" TYPES="q4_0 q8_0" scripts/bench-cpu.sh
#   STEPS="latency roofline" REPS=3 LLAMA_BENCH=/tmp/llama.cpp-build/bin/llama-bench scripts/bench-cpu.sh
#
# Environment: CLI (default build/kvscope-cli), MODELS (default /tmp/kvscope-models), OUT
# (default /tmp/kvscope-bench), THREADS (default: all cores), REPS (default 5), PP (default 512),
# TG (default 128), PRESETS, TYPES, STEPS (default "latency roofline batched throughput"),
# LLAMA_BENCH and LLAMA_BATCHED_BENCH (optional: llama.cpp's binaries).
set -euo pipefail
cd "$(dirname "$0")/.."

CLI=${CLI:-build/kvscope-cli}
MODELS=${MODELS:-/tmp/kvscope-models}
OUT=${OUT:-/tmp/kvscope-bench}
THREADS=${THREADS:-$(nproc)}
REPS=${REPS:-5}
PP=${PP:-512}
TG=${TG:-128}
PRESETS=${PRESETS:-tinyllama-1.1b}
TYPES=${TYPES:-q4_0 q8_0 q4_k f16 f32}
STEPS=${STEPS:-latency roofline batched throughput}
mkdir -p "$MODELS" "$OUT"

[ -x "$CLI" ] || { echo "bench-cpu: $CLI not found; build it first (scripts/build.sh)" >&2; exit 1; }

model() {  # model PRESET TYPE -> path (made on first use)
    local path="$MODELS/$1-$2.gguf"
    [ -f "$path" ] || "$CLI" make-model --preset "$1" --type "$2" --out "$path" >&2
    echo "$path"
}

has_step() { [[ " $STEPS " == *" $1 "* ]]; }

run() {  # run NAME ARGS...: table to NAME.md, JSON to NAME.json
    local name=$1
    shift
    echo "== $name: $*" >&2
    "$CLI" "$@" --json-file "$OUT/$name.json" > "$OUT/$name.md"
    cat "$OUT/$name.md"
}

{
    lscpu | grep -E "Model name|^CPU\(s\)|L3 cache" || true
    echo "SIMD: $(grep -o -w -E 'avx2|fma|f16c|avx512f|avx512bw|avx512_vnni|avx_vnni' /proc/cpuinfo | sort -u | tr '\n' ' ')"
} > "$OUT/machine.txt"

for preset in $PRESETS; do
    for type in $TYPES; do
        m=$(model "$preset" "$type")
        if has_step latency; then
            run "latency-$preset-$type" bench latency --model "$m" --threads "$THREADS" --repetitions "$REPS" \
                --prompt-tokens "$PP" --gen-tokens "$TG"
        fi
        if has_step roofline; then
            run "roofline-$preset-$type" bench roofline --model "$m" --threads "$THREADS" --repetitions 3 \
                --gen-tokens "$TG"
        fi
        if [ -n "${LLAMA_BENCH:-}" ] && has_step latency; then
            echo "== llama-bench $preset $type" >&2
            "$LLAMA_BENCH" -m "$m" -t "$THREADS" -p "$PP" -n "$TG" -r "$REPS" -o md > "$OUT/llama-bench-$preset-$type.md"
            cat "$OUT/llama-bench-$preset-$type.md"
        fi
    done
done

first_preset=${PRESETS%% *}
if has_step batched; then
    m=$(model "$first_preset" q4_0)
    run "batched-$first_preset-q4_0" bench batched --model "$m" --threads "$THREADS" --npp 128 --ntg 64 --npl 1,2,4,8,16
    run "batched-shared-$first_preset-q4_0" bench batched --model "$m" --threads "$THREADS" --npp 512 --ntg 64 \
        --npl 1,4,16 --shared-prompt
    if [ -n "${LLAMA_BATCHED_BENCH:-}" ]; then
        "$LLAMA_BATCHED_BENCH" -m "$m" -t "$THREADS" -c 16384 -b 2048 -ub 512 -npp 128 -ntg 64 -npl 1,2,4,8,16 \
            > "$OUT/llama-batched-bench-$first_preset-q4_0.txt" 2>&1
        grep "^|" "$OUT/llama-batched-bench-$first_preset-q4_0.txt" || true
    fi
fi
if has_step throughput; then
    m=$(model "$first_preset" q4_0)
    run "throughput-$first_preset-q4_0" bench throughput --model "$m" --threads "$THREADS" --num-prompts 32 \
        --input-len uniform:64-256 --output-len uniform:32-96 --shared-prefix-fraction 0.25 --kv-cache-bytes 1G
fi
echo "bench-cpu: results in $OUT" >&2
