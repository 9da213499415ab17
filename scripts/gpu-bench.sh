#!/usr/bin/env bash
# Runs `d2lora bench` (full shapes) on a Linux x86-64 machine with an NVIDIA GPU and no Node,
# from .gpu-carry/ (made by scripts/prepare-gpu-carry.sh): unpacks the Vulkan/GL loaders, points
# Dawn at the NVIDIA Vulkan driver, and writes the JSON report to ${OUT:-.}/bench-gpu.json.
# Extra arguments go to `d2lora bench` (e.g. --suite adapters).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
[ -d "$carry" ] || { echo "no .gpu-carry/: run scripts/prepare-gpu-carry.sh first, on a machine with Node" >&2; exit 1; }
for f in "$carry"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
node=/tmp/d2lora-node
xz -dc "$carry/node.xz" > "$node" && chmod +x "$node"
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true
"$node" "$carry/cli/d2lora.mjs" bench --full --json "${OUT:-.}/bench-gpu.json" "$@"
