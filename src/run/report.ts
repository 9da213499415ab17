// The run report: a Markdown summary and an SVG chart of the training loss (each step and a
// moving average) with the held-out accuracy before and after, for the output folder.

import type { Distribution } from '../adapters/anatomy';
import type { RunMetrics } from './run';

const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** Moving average over a window of `w` points (shorter at the start). */
export function movingAverage(xs: readonly number[], w: number): number[] {
  const out: number[] = [];
  let sum = 0;
  for (let i = 0; i < xs.length; i++) {
    sum += xs[i]!;
    if (i >= w) sum -= xs[i - w]!;
    out.push(sum / Math.min(i + 1, w));
  }
  return out;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** A self-contained SVG line chart of the loss per step. */
export function lossChartSvg(m: RunMetrics, width = 720, height = 320): string {
  const losses = m.steps.map((s) => s.loss);
  const smooth = movingAverage(losses, Math.max(1, Math.round(losses.length / 25)));
  const pad = { l: 56, r: 16, t: 28, b: 40 };
  const w = width - pad.l - pad.r;
  const h = height - pad.t - pad.b;
  const maxY = Math.max(...losses, 1e-9);
  const x = (i: number) => pad.l + (losses.length <= 1 ? 0 : (i / (losses.length - 1)) * w);
  const y = (v: number) => pad.t + h - (v / maxY) * h;
  const path = (vs: number[]) => vs.map((v, i) => `${i === 0 ? 'M' : 'L'}${x(i).toFixed(1)},${y(v).toFixed(1)}`).join(' ');
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = f * maxY;
    return `<line x1="${pad.l}" x2="${pad.l + w}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e3e6ef"/><text x="${pad.l - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v.toFixed(2)}</text>`;
  });
  const epochLines = Array.from({ length: m.train.epochs - 1 }, (_, e) => {
    const i = ((e + 1) * losses.length) / m.train.epochs;
    return `<line x1="${x(i).toFixed(1)}" x2="${x(i).toFixed(1)}" y1="${pad.t}" y2="${pad.t + h}" stroke="#b0b6c8" stroke-dasharray="4 4"/><text x="${(x(i) + 4).toFixed(1)}" y="${pad.t + 12}">epoch ${e + 2}</text>`;
  });
  const title = `${m.model.name} · ${m.task.name} · ${m.adapter.method} r=${m.adapter.r} — accuracy ${pct(m.before.accuracy)} → ${pct(m.after.accuracy)}`;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11" fill="#333">
<rect width="100%" height="100%" fill="#fff"/>
<text x="${pad.l}" y="18" font-size="13" font-weight="bold">${escapeXml(title)}</text>
${ticks.join('\n')}
${epochLines.join('\n')}
<path d="${path(losses)}" fill="none" stroke="#9aa7d8" stroke-width="1"/>
<path d="${path(smooth)}" fill="none" stroke="#3b4cc0" stroke-width="2"/>
<text x="${pad.l + w / 2}" y="${height - 8}" text-anchor="middle">step (of ${losses.length})</text>
<text transform="translate(14 ${pad.t + h / 2}) rotate(-90)" text-anchor="middle">training loss (mean NLL per answer token)</text>
</svg>
`;
}

/** The Markdown report; the chart is the file `loss-curve.svg` beside it. */
export function renderReport(m: RunMetrics): string {
  const a = m.adapter;
  const rows = [
    ['before training', m.before],
    ['after, adapters live', m.after],
    ['after, merged', m.merged],
  ] as const;
  return `# ${m.model.name} fine-tuned on ${m.task.name} with ${a.method}

![training loss](loss-curve.svg)

| evaluation (${m.before.items} held-out items, chance ${pct(m.chance)}) | accuracy (${m.scoring}) | by summed log-lik | by per-token log-lik | items/s |
|---|---|---|---|---|
${rows.map(([name, e]) => `| ${name} | **${pct(e.accuracy)}** | ${pct(e.accuracySum)} | ${pct(e.accuracyMean)} | ${e.itemsPerSecond.toFixed(1)} |`).join('\n')}

- Merge gap (merged − unmerged): ${m.mergeGapPoints.toFixed(2)} percentage points; merged/unmerged evaluation throughput ${m.mergedThroughputRatio.toFixed(2)}×.
- Adapter: ${a.method}, r=${a.r}, α=${a.alpha}${a.method === 'd2lora' ? `, τ=${a.tau}, ρ=${a.readd}, projection ${a.project ? 'on' : 'off'}, norm ${a.detachNorm ? 'detached' : 'differentiated'}` : ''}, on ${a.targets.join(', ')}; ${a.trainableParameters.toLocaleString('en')} trainable parameters (model: ${m.model.parameters.toLocaleString('en')}).
- Training: ${m.train.steps} steps, ${m.train.epochs} epochs, batch ${m.train.batchSize}, lr ${m.train.lr} (${m.train.decay}, warm-up ${pct(m.train.warmupRatio)}), seed ${m.train.seed}; ${(m.timings.trainMs / 1000).toFixed(1)} s, ${m.timings.msPerStep.toFixed(0)} ms/step, ${m.timings.tokensPerSecond.toFixed(0)} tokens/s on ${m.device.vendor} ${m.device.architecture}.
- Final training loss (mean of the last 10% of steps): ${movingAverage(m.steps.map((s) => s.loss), Math.max(1, Math.round(m.steps.length / 10))).at(-1)?.toFixed(4) ?? 'n/a'}.
- Data: ${m.task.counts.train} training and ${m.task.counts.eval} evaluation items drawn (${m.task.notes.join(' ')}); prompts truncated: ${m.task.truncation.train.truncated} train, ${m.task.truncation.eval.truncated} eval (${m.task.truncation.eval.how}).

${anatomySection(m)}
Every step's loss, learning rate and gradient norm, and every module's figures above with their histograms, are in \`metrics.json\`.
`;
}

/** "median [p05, p95]" of a distribution, to `digits` significant digits. */
function spread(d: Distribution, digits = 4): string {
  const f = (x: number) => (Number.isFinite(x) ? x.toPrecision(digits) : 'n/a');
  return `${f(d.median)} [${f(d.p05)}, ${f(d.p95)}]`;
}

/** Inside the adapter: one row per adapted module (see anatomy.ts for each figure's definition). */
function anatomySection(m: RunMetrics): string {
  const { entries, method } = m.anatomy;
  if (entries.length === 0) return '';
  const d2 = method === 'd2lora';
  const rescaled = entries.some((e) => e.rowScale !== null);
  const dora = method === 'dora';
  const head = ['module', '‖ΔW‖/‖W0‖', ...(d2 ? ['‖plus‖', '‖minus‖'] : []), ...(rescaled ? ['row rescale g'] : []), 'row norm drift', ...(dora ? ['m / ‖W0 row‖'] : [])];
  const rows = entries.map((e) => [
    `${e.layer}.${e.module}`,
    e.updateRatio.toPrecision(4),
    ...(d2 ? [e.branches!.plus.toPrecision(4), e.branches!.minus.toPrecision(4)] : []),
    ...(rescaled ? [e.rowScale ? spread(e.rowScale, 6) : '—'] : []),
    spread(e.rowDrift, 3),
    ...(dora ? [e.magnitudeRatio ? spread(e.magnitudeRatio, 6) : '—'] : []),
  ]);
  const notes = [
    '‖ΔW‖/‖W0‖ is the update\'s Frobenius norm against the frozen weight\'s',
    ...(d2 ? ['‖plus‖ and ‖minus‖ are those of the two signed branches s·U₊D₊ and sτ·U₋D₋'] : []),
    ...(rescaled ? [method === 'dora' ? 'g is each row\'s rescale m_j / ‖(W0+ΔW)_j‖' : 'g is the projection\'s rescale of each row, ‖W0_j‖ / ‖(W0+ΔW)_j‖'] : []),
    'the drift is how far each row of the effective weight\'s norm moved from the frozen row\'s, ‖W_eff_j‖ / ‖W0_j‖ − 1',
    ...(dora ? ['m / ‖W0 row‖ is the learned magnitude against the frozen row norm'] : []),
  ];
  return `## Inside the adapter

Per module: ${notes.join('; ')}. Row figures are median [5th, 95th percentile] over the rows.

| ${head.join(' | ')} |
|${head.map(() => '---').join('|')}|
${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}
`;
}
