#!/usr/bin/env bash
# Retakes the workbench screenshots in docs/ under a virtual X server: a real run of
# `kvscope --kv-blocks 1024 --demo-chat ... --demo-batch 200 [--demo-rate inf] [--demo-lab]`, driven with xdotool (there is no
# window manager: clicks and keys go to fixed coordinates of the 1600 x 1000 screen), captured
# with ImageMagick's `import`, cropped per panel. Each capture waits for the "demo: ..." line of
# what it shows (the model loaded, the batch started or finished, the lab finished), then for the
# short time the picture needs. Needs: xvfb, xdotool, imagemagick.
#   usage: scripts/take-screenshots.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" != "--inside-xvfb" ]]; then
    exec xvfb-run -a -s "-screen 0 1600x1000x24" "$0" --inside-xvfb "${1:-build}"
fi
build="$2"
out="$(mktemp -d)"
export XDG_CONFIG_HOME="$out/config" QT_QPA_PLATFORM=xcb

start() {
    rm -rf "$out/config"
    "$build/kvscope" --kv-blocks 1024 --demo-chat "Once upon a time" "$@" >"$out/log" 2>&1 &
    pid=$!
}

# Waits for the workbench to print "demo: $1" (at most $2 seconds, default 120).
await() {
    for _ in $(seq $((${2:-120} * 10))); do
        grep -q "^demo: $1" "$out/log" && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "take-screenshots: the workbench did not reach '$1':" >&2
    cat "$out/log" >&2
    exit 1
}

# A 400-request batch beside the chat, arriving all at once (at the panel's 40 requests/s a fast
# machine finishes each before the next comes): the whole window while the cache is full, the
# inspector zoomed in, then the charts once it has finished.
start --demo-batch 400 --demo-rate inf
await "batch started" && sleep 1 && import -window root "$out/running.png"
xdotool mousemove 540 64                                 # the grid's top-left corner
for _ in 1 2 3 4 5; do xdotool click 4; sleep 0.1; done  # wheel: zoom in
xdotool mousemove 600 90 && sleep 0.5                    # hover a shared block
import -window root "$out/zoomed.png"
await "batch finished" && sleep 2 && import -window root "$out/done.png"
kill "$pid" && wait "$pid" || true

# The memory lab on the same batch, opened (a window of its own) and run once the batch has finished.
start --demo-batch 200 --demo-lab
await "lab finished" 240 && sleep 1 && import -window root "$out/lab.png"
kill "$pid" && wait "$pid" || true

# Chat only: a second turn that the prefix cache serves, then the settings dialog (Ctrl+,).
start
await "model loaded" && sleep 2 && xdotool mousemove 300 330 click 1 && sleep 0.3
xdotool type --delay 20 " Then a big dog came" && xdotool key ctrl+Return
sleep 3 && import -window root "$out/chat.png"
# The dialog's own window, whatever its size and place (no window manager: no frame to leave out).
xdotool key ctrl+comma
dialog="$(timeout 30 xdotool search --sync --onlyvisible --name "Model and Cache Settings" | head -1)"
sleep 1 && import -window "$dialog" "$out/settings.png"
kill "$pid" && wait "$pid" || true

# Token probabilities: ticked (the box under the input), a turn, then a token of it clicked.
start
await "model loaded" && sleep 2 && xdotool mousemove 95 440 click 1 && sleep 0.3
xdotool mousemove 300 330 click 1 && sleep 0.3
xdotool type --delay 20 " Then a big dog came" && xdotool key ctrl+Return
sleep 3 && xdotool mousemove 140 100 click 1 && sleep 1 && import -window root "$out/tokens.png"
# Then the perplexity tab (behind the batch queue): the sample measured, then every token scored.
xdotool mousemove 143 958 click 1 && sleep 0.5 && xdotool mousemove 673 634 click 1 && sleep 2
xdotool mousemove 11 662 click 1 && xdotool mousemove 673 634 click 1 && sleep 2
import -window root "$out/perplexity.png"
kill "$pid" && wait "$pid" || true

# convert IN [operations...] OUT, then 256 colours and the best PNG compression before OUT
small() { convert "${@:1:$#-1}" -strip +dither -colors 256 -define png:compression-level=9 "${@: -1}"; }
small "$out/running.png" -resize 1280x docs/screenshot-workbench.png
small "$out/zoomed.png" -crop 1070x550+530+18 +repage docs/screenshot-inspector.png
convert "$out/running.png" -crop 724x405+0+573 +repage -strip docs/screenshot-batch.png
convert "$out/done.png" -crop 876x405+724+573 +repage -strip docs/screenshot-charts.png
small "$out/lab.png" -crop 1560x620+20+40 +repage docs/screenshot-lab.png
convert "$out/chat.png" -crop 522x550+0+18 +repage -strip docs/screenshot-chat.png
convert "$out/settings.png" -strip docs/screenshot-settings.png
convert "$out/tokens.png" -crop 522x550+0+18 +repage -strip docs/screenshot-token-probabilities.png
convert "$out/perplexity.png" -crop 724x405+0+573 +repage -strip docs/screenshot-perplexity.png
rm -rf "$out"
echo "docs/screenshot-*.png updated: look at them before committing"
