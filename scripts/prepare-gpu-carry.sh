#!/usr/bin/env bash
# Prepares .gpu-carry/: everything scripts/gpu-bench.sh needs on a Linux x86-64 machine with an
# NVIDIA GPU and no Node: the Node binary (xz), the command line bundled into one file (with
# public/ beside it, so the embedded presets are in cli/models/), the npm `webgpu` package with
# only its Linux x64 Dawn binary, and the Debian Vulkan/GL loader packages (fetched through this
# machine's own apt sources). About 50 MB. The PyTorch + PEFT reference gpu-bench.sh also runs
# (scripts/peft-bench.py) comes with the tree and uses the machine's own python3 and torch: there
# is nothing of it to carry (torch is gigabytes), and without it only our figures are printed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
carry="$root/.gpu-carry"
rm -rf "$carry" && mkdir -p "$carry/debs" "$carry/node_modules/webgpu/dist"
xz -T0 -c "$(command -v node)" > "$carry/node.xz"
(cd "$root" && npx vite build --ssr src/cli/entry.ts --outDir "$carry/cli" --emptyOutDir --logLevel warn \
  --config scripts/vite.cli.config.ts)
cp "$root/node_modules/webgpu/package.json" "$root/node_modules/webgpu/index.js" "$carry/node_modules/webgpu/"
cp -r "$root/node_modules/webgpu/dist/linux-x64" "$carry/node_modules/webgpu/dist/"
lists=$(mktemp -d)
mkdir -p "$lists/partial"
opts=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists="$lists")
apt-get "${opts[@]}" update -qq
(cd "$carry/debs" && apt-get "${opts[@]}" download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2 >/dev/null)
rm -rf "$lists"
du -sh "$carry"
