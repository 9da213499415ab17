// `d2lora bench`: prints the kernel benchmarks as a table and as JSON. Never fails on time.

import { writeFile } from 'node:fs/promises';
import { ADAPTER_BENCH_SHAPES, ADAPTER_BENCH_SHAPES_CPU, benchAdapters } from '../bench/adapters';
import { benchGeneration } from '../bench/generation';
import { benchHost, SMOLLM2_135M_TOPOLOGY, type HostBenchRow } from '../bench/host';
import { benchOnnx, ONNX_BENCH_POSITIONS, onnxBenchCells, onnxBenchHeader, onnxBenchLine, tinyRandomBenchModel } from '../bench/onnx';
import { benchMatmul, matmulCases } from '../bench/kernels';
import { benchTraining, SMOLLM2_135M_SHAPE } from '../bench/training';
import { loadModelInNode } from '../io/node-source';
import { randomWeights } from '../model/random';
import type { GpuContext } from '../gpu/context';
import { acquireNodeContext } from '../gpu/node';
import { MATMUL_VARIANTS, type MatmulVariant } from '../ops/matmul';
import type { FlagSpec, FlagValues } from './args';
import { formatTable } from './table';

const SUITES = ['matmul', 'adapters', 'training', 'generation', 'onnx', 'host'] as const;

export const benchFlags: Record<string, FlagSpec> = {
  quick: { type: 'boolean', help: 'only the small shapes (a smoke run on CPU drivers)' },
  suite: { type: 'string', help: `what to run: ${['all', ...SUITES].join(', ')}`, default: 'all' },
  full: { type: 'boolean', help: 'the full shapes even on a CPU driver: adapters at N=8192 4096², training SmolLM2-135M (hours on a CPU)' },
  steps: { type: 'number', help: 'timed training steps per method', default: 5 },
  seqs: { type: 'string', help: 'comma-separated sequence lengths of the training suite (batch 8 each)', default: '256' },
  variants: { type: 'string', help: `comma-separated matmul variants (${MATMUL_VARIANTS.join(', ')})`, default: MATMUL_VARIANTS.join(',') },
  json: { type: 'string', help: 'also write the results as JSON to this file' },
};

export async function benchCommand(flags: FlagValues): Promise<number> {
  const variants = String(flags.variants).split(',').map((v) => v.trim()) as MatmulVariant[];
  for (const v of variants) {
    if (!MATMUL_VARIANTS.includes(v)) throw new Error(`bench: unknown variant "${v}"; accepted: ${MATMUL_VARIANTS.join(', ')}`);
  }
  const ctx = await acquireNodeContext();
  const a = ctx.adapter;
  const adapter = `${a.vendor} ${a.architecture} ${a.device}`.trim();
  console.log(`adapter: ${adapter} — ${a.description}${a.isCpu ? ' (CPU driver: figures are for correctness runs, not GPU claims)' : ''}`);
  console.log(`timing: ${ctx.hasTimestamps ? 'GPU timestamp queries' : 'wall clock (no timestamp-query)'}\n`);
  const suite = String(flags.suite);
  if (suite !== 'all' && !(SUITES as readonly string[]).includes(suite)) throw new Error(`bench: unknown suite "${suite}"; accepted: ${['all', ...SUITES].join(', ')}`);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    adapter: { ...a },
    timing: ctx.hasTimestamps ? 'timestamp-query' : 'wall-clock',
  };
  if (suite === 'all' || suite === 'matmul') {
    const rows = await benchMatmul(ctx, matmulCases(Boolean(flags.quick), Boolean(flags.full) || !a.isCpu), variants, (r) =>
      process.stderr.write(`  ${r.name} ${r.variant}: ${r.gflops.toFixed(2)} GFLOP/s\n`),
    );
    console.log(
      formatTable(
        ['product', 'M', 'N', 'K', 'variant', 'ms', 'GFLOP/s'],
        rows.map((r) => [r.name, r.M, r.N, r.K, r.variant, r.ms, r.gflops]),
      ),
    );
    report.matmul = rows;
  }
  if (suite === 'all' || suite === 'adapters') {
    const cpuShapes = a.isCpu && !flags.full;
    const shapes = flags.quick ? ADAPTER_BENCH_SHAPES_CPU.slice(0, 1) : cpuShapes ? ADAPTER_BENCH_SHAPES_CPU : ADAPTER_BENCH_SHAPES;
    if (cpuShapes) console.log('\n(CPU driver: adapter shapes reduced; --full runs N=2048 2048², N=8192 4096² too)');
    const rows = await benchAdapters(ctx, shapes, {
      onRow: (r) => process.stderr.write(`  N=${r.tokens} ${r.features}² ${r.method}: ${r.ms.toFixed(2)} ms\n`),
    });
    console.log('\nOne adapted layer, forward + backward (dX and adapter gradients), median of 7 interleaved rounds:');
    console.log(
      formatTable(
        ['N', 'out=in', 'method', 'ms/call', 'vs LoRA r'],
        rows.map((r) => [r.tokens, r.features, r.method, r.ms, `${r.overhead >= 0 ? '+' : ''}${(100 * r.overhead).toFixed(1)}%`]),
      ),
    );
    report.adapters = rows;
  }
  if (suite === 'all' || suite === 'training') {
    const seqs = String(flags.seqs).split(',').map((v) => Number(v.trim()));
    for (const seq of seqs) {
      if (!Number.isInteger(seq) || seq < 2) throw new Error(`bench: --seqs takes sequence lengths ≥ 2 separated by commas, got "${flags.seqs}"`);
    }
    const models = [await loadModelInNode({ kind: 'preset', name: 'stories260K' })];
    const bigOnCpu = a.isCpu && !flags.full;
    if (bigOnCpu) console.log('\n(CPU driver: training benchmark on stories260K only; --full adds the SmolLM2-135M shape)');
    else models.push({ ...models[0]!, name: 'SmolLM2-135M shape (random weights)', config: SMOLLM2_135M_SHAPE, weights: randomWeights(SMOLLM2_135M_SHAPE, 1) });
    const rows = [];
    for (const model of models) {
      for (const seq of seqs) {
        rows.push(
          ...(await benchTraining(ctx, model, {
            seq,
            steps: Number(flags.steps),
            onRow: (r) => process.stderr.write(`  ${r.model} ${r.method} (${r.loss}) ${r.batch}×${r.seq}: ${r.tokensPerSecond.toFixed(0)} tok/s\n`),
          })),
        );
      }
    }
    console.log('\nTraining step (forward, backward, AdamW), adapters on q,k,v,o, batch 8, median step:');
    console.log(
      formatTable(
        ['model', 'method', 'loss at', 'seq', 'ms/step', 'tokens/s', 'peak GPU MiB'],
        rows.map((r) => [r.model, r.method, r.loss, r.seq, r.msPerStep, r.tokensPerSecond, r.peakBytes / 1048576]),
      ),
    );
    report.training = rows;
  }
  if (suite === 'all' || suite === 'generation') {
    const model = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    const rows = await benchGeneration(ctx, model, {
      onRow: (r) => process.stderr.write(`  ${r.model} ${r.positions} positions: cached ${r.cachedTokensPerSecond.toFixed(1)} tok/s, recompute ${r.recomputeTokensPerSecond.toFixed(1)} tok/s\n`),
    });
    console.log('\nGreedy generation from BOS, KV cache vs recomputing the sequence for every token (wall clock, side by side):');
    console.log(
      formatTable(
        ['model', 'positions', 'cached ms', 'cached tok/s', 'recompute ms', 'recompute tok/s', 'ratio', 'same tokens'],
        rows.map((r) => [r.model, r.positions, r.cachedMs, r.cachedTokensPerSecond, r.recomputeMs, r.recomputeTokensPerSecond, `${r.ratio.toFixed(1)}×`, r.tokensAgree ? 'yes' : 'NO']),
      ),
    );
    report.generation = rows;
  }
  if (suite === 'all' || suite === 'onnx') {
    const stories = await loadModelInNode({ kind: 'preset', name: 'stories260K' });
    const models = [stories, ...(['llama', 'qwen2', 'gpt2'] as const).map((family) => tinyRandomBenchModel(family, ONNX_BENCH_POSITIONS))];
    const providers = ['wasm'] as const;
    const rows = [];
    for (const model of models) {
      const row = await benchOnnx(ctx, model, { positions: ONNX_BENCH_POSITIONS, providers });
      process.stderr.write(`  ${onnxBenchLine(row)}\n`);
      rows.push(row);
    }
    console.log('\nGreedy generation from BOS, our engine (KV cache) vs the exported ONNX model in onnxruntime-web (wall clock, median of 3 alternating rounds; WebGPU: npm run bench:browser):');
    console.log(formatTable(onnxBenchHeader(providers), rows.map((r) => onnxBenchCells(r, providers))));
    report.onnx = rows;
  }
  if (suite === 'all' || suite === 'host') report.host = await hostSuite(ctx, Number(flags.steps));
  const json = JSON.stringify(report, null, 2);
  console.log(`\n${json}`);
  if (typeof flags.json === 'string') await writeFile(flags.json, json + '\n');
  ctx.destroy();
  return 0;
}

/**
 * Host time per training step of SmolLM2-135M's topology (random weights, 1/8 width: see
 * SMOLLM2_135M_TOPOLOGY), on Dawn's null backend where nothing executes, with what each warm step
 * creates on the device. Without a null backend
 * the same figures come from the adapter in use, on stories260K when it is a CPU driver: its
 * recording time is then the host's share and its wall time includes the GPU's.
 */
async function hostSuite(ctx: GpuContext, steps: number): Promise<{ backend: string; rows: HostBenchRow[] }> {
  let host: GpuContext;
  let backend = 'Dawn null backend';
  try {
    host = await acquireNodeContext({ backend: 'null' });
  } catch (e) {
    console.log(`\n(Dawn's null backend is unavailable: ${(e as Error).message}; host figures from the adapter in use)`);
    host = ctx;
    backend = `${ctx.adapter.description || ctx.adapter.device} (wall includes GPU time)`;
  }
  const model =
    host === ctx && ctx.adapter.isCpu
      ? await loadModelInNode({ kind: 'preset', name: 'stories260K' })
      : { name: 'SmolLM2-135M topology, 1/8 width', config: SMOLLM2_135M_TOPOLOGY, weights: randomWeights(SMOLLM2_135M_TOPOLOGY, 1) };
  try {
    const rows = await benchHost(host, model, {
      steps: Math.max(steps, 20),
      cpuClock: () => {
        const { user, system } = process.cpuUsage();
        return (user + system) / 1000;
      },
      onRow: (r) => process.stderr.write(`  host ${r.model} ${r.method}: ${r.wallMs.toFixed(1)} ms/step\n`),
    });
    console.log(`\nHost overhead of a training step (${backend}), adapters on q,k,v,o, batch 8 × seq 256, median of ${rows[0]?.steps ?? 0} warm steps;`);
    console.log('record = trainStep up to its first await (batch, dispatches, submit), CPU = the process\'s CPU time over it; dispatched, created and submitted per warm step:');
    console.log(
      formatTable(
        ['model', 'method', 'wall ms/step', 'record ms/step', 'record CPU ms', 'dispatches', 'buffers', 'bind groups', 'pipelines', 'shader modules', 'encoders', 'submits'],
        rows.map((r) => [r.model, r.method, r.wallMs, r.recordMs, r.recordCpuMs ?? '—', r.perStep.dispatches, r.perStep.buffers, r.perStep.bindGroups, r.perStep.pipelines, r.perStep.shaderModules, r.perStep.commandEncoders, r.perStep.submissions]),
      ),
    );
    return { backend, rows };
  } finally {
    if (host !== ctx) host.destroy();
  }
}
