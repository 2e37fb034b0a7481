#!/usr/bin/env bash
# Builds kvscope with a sanitizer in a build folder of its own and runs the tests under it.
#   scripts/sanitize.sh asan    AddressSanitizer + UndefinedBehaviorSanitizer, every test
#   scripts/sanitize.sh tsan    ThreadSanitizer: the tests with threads (the server's engine loop
#                               and handler threads, the Serve switch's WorkerHost mailbox, the
#                               thread pool); not the Qt bridge, whose Qt is not instrumented
#   scripts/sanitize.sh asan|tsan TARGET...   only these test executables (built, then run)
#   --no-gui (first after the kind): configure without the Qt workbench; asan then builds and runs
#   every non-GUI test (engine, kernels, GGUF/tokenizers, CLI, server, fuzz short runs).
#   --ci: what .ci/run runs, sized for a 2-core CI (docs/RELIABILITY.md): no Qt; asan the tests of
#   untrusted input and memory ownership (GGUF, tokenizers, KV cache, faults, HTTP requests, the
#   fuzz targets' short runs, kvscope-cli's commands), tsan the threaded tests.
# CUDA and the benchmarks are off (the sanitizers cover host code only). The folder is
# build-<kind>, or $KVSCOPE_SANITIZE_DIR. Suppressions (each with its reason) live in
# tests/sanitizers/.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
shift || true
gui=ON
ci=0
case "${1:-}" in
    --no-gui) gui=OFF; shift ;;
    --ci) gui=OFF; ci=1; shift ;;
esac
supp="$PWD/tests/sanitizers"
case "$kind" in
    asan) flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" ;;
    tsan) flags="-fsanitize=thread" ;;
    *) echo "usage: scripts/sanitize.sh asan|tsan [--no-gui|--ci] [TARGET...]" >&2; exit 2 ;;
esac
build_dir="${KVSCOPE_SANITIZE_DIR:-build-$kind}"
launcher=()
if command -v ccache >/dev/null; then
    # precompiled headers are cacheable only with these (ccache(1), "Precompiled headers")
    export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"
    launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi

# -O1 -g1: stacks with file:line (line tables only: full debug info doubles the compile time),
# tests a few times slower than Release rather than ten. One executable per test file
# (KVSCOPE_GROUP_TESTS=OFF): the lists below name them.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVSCOPE_CUDA=OFF \
    -DKVSCOPE_BENCHMARKS=OFF -DKVSCOPE_GROUP_TESTS=OFF -DKVSCOPE_GUI="$gui" "${launcher[@]}" \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 $flags" -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -g1 $flags" \
    -DCMAKE_EXE_LINKER_FLAGS="$flags" -DCMAKE_SHARED_LINKER_FLAGS="$flags"

export QT_QPA_PLATFORM=offscreen
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp/ubsan.supp"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$supp/tsan.supp"
start=$SECONDS
if [ "$kind" = asan ] && [ $# -eq 0 ] && [ "$ci" = 1 ]; then
    set -- gguf_test gguf_bad_file_test gguf_fuzz_test tokenizer_spm_test tokenizer_bpe_test \
        tokenizer_gguf_test tokenizer_huge_input_test detokenizer_test unicode_test chat_template_test \
        engine_faults_test kv_cache_manager_test kv_cache_random_test block_pool_test swap_test \
        bad_request_http_test security_http_test tokenize_http_test logprobs_by_id_test client_connection_test connection_pool_test fuzz_gguf_fuzz fuzz_tokenizer_fuzz fuzz_request_fuzz \
        kl_divergence_test cli_test cli_lab_test cli_lora_test bench_test
fi
if [ "$kind" = asan ] && [ $# -eq 0 ]; then
    cmake --build "$build_dir"
    built=$SECONDS
    ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 900
else
    targets=("$@")
    if [ ${#targets[@]} -eq 0 ]; then
        # The tests where more than one thread touches shared state.
        targets=(thread_pool_test connection_pool_test completions_http_test bad_request_http_test kv_snapshot_http_test
                 metrics_http_test security_http_test lora_http_test serving_load_test serve_cli_test
                 bench_serve_test worker_host_test perplexity_server_test)
        # Not the Qt bridge (engine_worker_test): Debian's Qt is not instrumented, and TSan
        # reports every queued call there (docs/RELIABILITY.md, "TSan, 26 Nov").
    fi
    cmake --build "$build_dir" --target "${targets[@]}" kvscope-cli
    built=$SECONDS
    # Each executable on its own, one after the other: a sanitizer wants the cores it can get.
    failed=()
    for t in "${targets[@]}"; do
        exe=$(find "$build_dir" -type f -name "$t" -perm -u+x -print -quit)
        echo "=== $t"
        if [[ "$t" == fuzz_* ]]; then
            corpus="tests/fuzz/corpus/${t#fuzz_}"
            "$exe" --iterations "${KVSCOPE_FUZZ_ITERATIONS:-3000}" "${corpus%_fuzz}" || failed+=("$t")
        else
            "$exe" || failed+=("$t")
        fi
    done
    if [ ${#failed[@]} -gt 0 ]; then
        echo "sanitize $kind: failed: ${failed[*]}" >&2
        exit 1
    fi
fi
echo "sanitize $kind: build $((built - start)) s, tests $((SECONDS - built)) s"
