#!/usr/bin/env bash
# Runs a command with the Vulkan driver Dawn should use (see scripts/gpu-env.mjs).
set -euo pipefail
eval "$(node "$(dirname "$0")/gpu-env.mjs")"
exec "$@"
