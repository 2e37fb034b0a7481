#!/usr/bin/env bash
# Packs the header/static-library dependencies that the lent GPU machines lack (nlohmann-json,
# GoogleTest) from this Debian machine into .gpu-deps/prefix (ignored by git), for
# scripts/gpu-check.sh to find there. The GPU machine cannot reach any package registry, so:
#   here:  scripts/gpu-deps-pack.sh
#   then:  the device tool's run with carry [".gpu-deps"] and command "bash scripts/gpu-check.sh"
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh >/dev/null
prefix=.gpu-deps/prefix
rm -rf .gpu-deps
mkdir -p "$prefix/include" "$prefix/share/cmake" "$prefix/lib/x86_64-linux-gnu/cmake"
cp -r /usr/include/nlohmann "$prefix/include/"
cp -r /usr/share/cmake/nlohmann_json "$prefix/share/cmake/"
cp -r /usr/include/gtest /usr/include/gmock "$prefix/include/"
cp /usr/lib/x86_64-linux-gnu/libgtest.a /usr/lib/x86_64-linux-gnu/libgtest_main.a \
   /usr/lib/x86_64-linux-gnu/libgmock.a /usr/lib/x86_64-linux-gnu/libgmock_main.a "$prefix/lib/x86_64-linux-gnu/"
cp -r /usr/lib/x86_64-linux-gnu/cmake/GTest "$prefix/lib/x86_64-linux-gnu/cmake/"
du -sh .gpu-deps
echo "gpu-deps-pack: carry .gpu-deps with scripts/gpu-check.sh"
