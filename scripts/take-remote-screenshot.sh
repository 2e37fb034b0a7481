#!/usr/bin/env bash
# Retakes docs/screenshot-remote.png under a virtual X server: `kvscope-cli serve` on a loopback
# port that has served a first `bench serve`, a second load against it, and the workbench attached to it
# (`kvscope --attach`), captured with ImageMagick's `import`. Needs: xvfb, imagemagick.
#   usage: scripts/take-remote-screenshot.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" != "--inside-xvfb" ]]; then
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$0" --inside-xvfb "${1:-build}"
fi
build="$2"
out="$(mktemp -d)"
export XDG_CONFIG_HOME="$out/config" QT_QPA_PLATFORM=xcb
port=18431

"$build/kvscope-cli" serve --port "$port" --kv-cache-blocks 512 >"$out/serve.log" 2>&1 &
server=$!
sleep 2
# Requests served before the attach: the latency chart's first point ("before attach").
"$build/kvscope-cli" bench serve --url "http://127.0.0.1:$port" --num-prompts 40 --request-rate 40 \
    --prompt-len uniform:160-256 --output-len uniform:32-128 --shared-prefix-fraction 0.6 >"$out/warmup.log" 2>&1
"$build/kvscope" --attach "http://127.0.0.1:$port" >"$out/gui.log" 2>&1 &
gui=$!
sleep 4
"$build/kvscope-cli" bench serve --url "http://127.0.0.1:$port" --num-prompts 1000 --request-rate 150 \
    --prompt-len uniform:160-256 --output-len uniform:32-128 --shared-prefix-fraction 0.6 >"$out/bench.log" 2>&1 &
bench=$!
sleep 8 && import -window root "$out/remote.png"
kill "$bench" "$gui" "$server" 2>/dev/null || true
wait 2>/dev/null || true

convert "$out/remote.png" -resize 1280x -strip +dither -colors 256 -define png:compression-level=9 \
    docs/screenshot-remote.png
rm -rf "$out"
echo "docs/screenshot-remote.png updated: look at it before committing"
