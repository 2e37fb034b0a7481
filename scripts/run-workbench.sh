#!/usr/bin/env bash
# Installs what is missing, builds, and starts the workbench on the embedded model.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
exec "${KVSCOPE_BUILD_DIR:-build}/kvscope" "$@"
