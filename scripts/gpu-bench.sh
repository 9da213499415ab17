#!/usr/bin/env bash
# Runs `d2lora bench` (full shapes) on a Linux x86-64 machine with an NVIDIA GPU and no Node,
# from .gpu-carry/ (made by scripts/prepare-gpu-carry.sh): unpacks the Vulkan/GL loaders, points
# Dawn at the NVIDIA Vulkan driver, and writes the JSON report to ${OUT:-.}/bench-gpu.json.
# Before it, the PyTorch + PEFT reference (scripts/peft-bench.py: SmolLM2-135M's shape, LoRA and
# DoRA, 8×256 and 8×1024, cuBLAS fp32 matmul) when python3 with torch, transformers and peft is
# there (it says what is missing otherwise, and ours still runs); after it, the issue's ratios
# side by side. Each part has a time limit, so that the whole stays under 10 minutes.
# Arguments replace `d2lora bench`'s (default: --full --seqs 256,1024); a dry run on a machine
# without a GPU, at small shapes on lavapipe:
#   VK_ICD_FILENAMES=$PWD/.deps/lavapipe/lvp_icd.json OUT=/tmp/gb scripts/gpu-bench.sh --suite training --steps 1
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
out="${OUT:-.}"
[ -d "$carry" ] || { echo "no .gpu-carry/: run scripts/prepare-gpu-carry.sh first, on a machine with Node" >&2; exit 1; }
for f in "$carry"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig
node=/tmp/d2lora-node
xz -dc "$carry/node.xz" > "$node" && chmod +x "$node"
export VK_ICD_FILENAMES="${VK_ICD_FILENAMES:-/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || true

python=$(command -v python3 || true)
if [ -n "$python" ]; then
  timeout 200 "$python" "$root/scripts/peft-bench.py" --json "$out/peft-bench.json" --seqs 256,1024 \
    || echo "PEFT reference failed or ran out of its 200 s (status $?); our part goes on"
else
  echo "PEFT reference skipped: no python3 on this machine"
fi

status=0
[ "$#" -gt 0 ] || set -- --full --seqs 256,1024
timeout 360 "$node" "$carry/cli/d2lora.mjs" bench --json "$out/bench-gpu.json" "$@" || status=$?
[ "$status" -eq 0 ] || echo "d2lora bench failed or ran out of its 360 s (status $status)"

if [ -n "$python" ] && [ -f "$out/bench-gpu.json" ]; then
  "$python" "$root/scripts/peft-bench.py" --compare --ours "$out/bench-gpu.json" --peft "$out/peft-bench.json"
fi
exit "$status"
