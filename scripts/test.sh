#!/usr/bin/env bash
# `npm test`: every tier, in order, then one summary line "N passed, N failed".
#   0. system dependencies (Chromium, Vulkan loader, lavapipe) — found or installed
#   1. typecheck + unit tests (Node, pure TypeScript)
#   2. kernel tests (real WGSL on Dawn in Node, against the f64 CPU references)
#   3. end-to-end (the built app in Debian's Chromium with WebGPU, via Playwright)
# Data and model files come from the mirror folder D2LORA_MIRROR (default: ../shared).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-system-deps.sh || exit 1
eval "$(node scripts/gpu-env.mjs)"
export D2LORA_MIRROR="${D2LORA_MIRROR:-$(cd .. && pwd)/shared}"
reports=.test-reports # not under test-results/, which Playwright empties when it starts
rm -rf "$reports" && mkdir -p "$reports"
status=0

echo "== typecheck"
npx tsc --noEmit -p tsconfig.json || status=1

echo "== tier 1: unit tests (Node)"
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json="$reports/unit.json" || status=1

echo "== tier 2: kernel tests (Dawn, $(basename "${VK_ICD_FILENAMES:-system Vulkan driver}"))"
npx vitest run --project kernels --reporter=default --reporter=json --outputFile.json="$reports/kernels.json" || status=1

echo "== tier 3: end-to-end (Chromium)"
if npx vite build --logLevel warn; then
  PLAYWRIGHT_JSON_OUTPUT_NAME="$reports/e2e.json" npx playwright test --reporter=list,json || status=1
else
  status=1
fi

node scripts/test-summary.mjs "$reports" || status=1
exit $status
