#!/usr/bin/env bash
# Checks kvscope-cli serve with the official OpenAI Node SDK (npm package `openai`): installs it
# into a temporary folder (needs node, npm and the npm registry), starts a server on a free port
# with an API key, runs tests/sdk/openai_sdk_check.mjs, and stops the server.
#   usage: scripts/openai-sdk-check.sh [build dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build="${1:-build}"
work="$(mktemp -d)"
trap 'kill "${pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
(cd "$work" && npm init -y >/dev/null && npm install --silent openai@4 >/dev/null)
cp tests/sdk/openai_sdk_check.mjs "$work/"
"$build/kvscope-cli" serve --port 0 --api-key sdk-check >"$work/serve.log" 2>&1 &
pid=$!
for _ in $(seq 50); do grep -q "at http://" "$work/serve.log" && break; sleep 0.1; done
url="$(grep -o 'http://[0-9.:]*' "$work/serve.log" | head -1)"
[ -n "$url" ] || { echo "openai-sdk-check: the server did not start:" >&2; cat "$work/serve.log" >&2; exit 1; }
(cd "$work" && KVSCOPE_URL="$url/v1" KVSCOPE_API_KEY=sdk-check node openai_sdk_check.mjs)
