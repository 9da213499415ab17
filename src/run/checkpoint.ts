// A run's checkpoint: everything a Run needs to go on training where it stopped and end as the
// uninterrupted run would, bit for bit — the trainer state (adapter factors, AdamW moments,
// step, loss history, divergence watch), the evaluation before training (not repeated), the
// held-out watch (its losses, best step and, with early stopping, the best adapters) and the
// training time so far. Written as files so a front door stores it as it stores an output folder:
//
//   checkpoint.json     the run's part (spec, why and when it was saved, the figures above)
//   state.json          the trainer's part (see train/state-file.ts)
//   state.safetensors   its tensors
//   best.safetensors    early stopping's best adapters (only when early stopping kept some)

import { z } from 'zod';
import type { AdapterParams } from '../adapters/init';
import { FormatError } from '../io/errors';
import { parseJsonFile } from '../io/json';
import { parseSafetensors, writeSafetensors } from '../io/safetensors';
import { adapterTensors, decodeTrainerState, encodeTrainerState, readAdapterTensors, type AdapterList } from '../train/state-file';
import type { TrainerState } from '../train/trainer';
import type { EvalSummary } from './run';
import { parseRunSpec, type RunSpec } from './spec';
import { CHECKPOINT_REASONS, type CheckpointReason } from './stages';

export const CHECKPOINT_FORMAT_VERSION = 1;
export const CHECKPOINT_FILES = { run: 'checkpoint.json', trainerJson: 'state.json', trainerTensors: 'state.safetensors', best: 'best.safetensors' } as const;

export type { CheckpointReason } from './stages';

/** The held-out watch of a run as it stood (see HeldOutWatch in run.ts). */
export interface HeldOutState {
  history: { step: number; loss: number }[];
  /** Infinity until the first held-out loss. */
  bestLoss: number;
  bestStep: number;
  sinceBest: number;
  /** Early stopping's best adapters so far, by layer name; null without early stopping. */
  kept: Map<string, AdapterParams> | null;
}

export interface RunCheckpoint {
  /** The spec as run (a local model's files pinned by sha256): a resumed run must use this one. */
  spec: RunSpec;
  reason: CheckpointReason;
  savedAt: string;
  /** Steps done, of totalSteps. */
  step: number;
  totalSteps: number;
  before: EvalSummary;
  heldOut: HeldOutState;
  /** Training time so far, pauses excluded. */
  trainMs: number;
  /** The steps at which earlier sessions of this run resumed from a checkpoint. */
  resumedAt: number[];
  engine: string;
  trainer: TrainerState;
}

const FINITE = z.number().refine(Number.isFinite, 'a finite number');
const COUNT = z.number().int().nonnegative();
const CHECKPOINT_JSON = z.strictObject({
  format: z.literal('d2lora-run-checkpoint'),
  version: z.literal(CHECKPOINT_FORMAT_VERSION),
  spec: z.unknown(),
  reason: z.enum(CHECKPOINT_REASONS),
  savedAt: z.string(),
  step: COUNT,
  totalSteps: COUNT,
  before: z.strictObject({ accuracy: FINITE, accuracySum: FINITE, accuracyMean: FINITE, items: COUNT, ms: FINITE, itemsPerSecond: z.number() }),
  heldOut: z.strictObject({
    history: z.array(z.strictObject({ step: COUNT, loss: z.number() })),
    // JSON has no Infinity: null until the first held-out loss.
    bestLoss: z.number().nullable(),
    bestStep: COUNT,
    sinceBest: COUNT,
    kept: z.array(z.object({ name: z.string(), method: z.enum(['lora', 'dora', 'd2lora']), r: COUNT, out: COUNT, in: COUNT, tensors: z.array(z.string()) })).nullable(),
  }),
  trainMs: FINITE,
  resumedAt: z.array(COUNT),
  engine: z.string(),
});

export function encodeRunCheckpoint(cp: RunCheckpoint): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const trainer = encodeTrainerState(cp.trainer);
  let kept: AdapterList | null = null;
  if (cp.heldOut.kept !== null) {
    const { tensors, list } = adapterTensors([...cp.heldOut.kept].map(([name, params]) => ({ name, params })), 'best');
    files.set(CHECKPOINT_FILES.best, writeSafetensors(tensors));
    kept = list;
  }
  const json: z.input<typeof CHECKPOINT_JSON> = {
    format: 'd2lora-run-checkpoint',
    version: CHECKPOINT_FORMAT_VERSION,
    spec: cp.spec,
    reason: cp.reason,
    savedAt: cp.savedAt,
    step: cp.step,
    totalSteps: cp.totalSteps,
    before: cp.before,
    heldOut: { history: cp.heldOut.history, bestLoss: Number.isFinite(cp.heldOut.bestLoss) ? cp.heldOut.bestLoss : null, bestStep: cp.heldOut.bestStep, sinceBest: cp.heldOut.sinceBest, kept },
    trainMs: cp.trainMs,
    resumedAt: cp.resumedAt,
    engine: cp.engine,
  };
  const text = new TextEncoder();
  files.set(CHECKPOINT_FILES.run, text.encode(JSON.stringify(json, null, 1)));
  files.set(CHECKPOINT_FILES.trainerJson, text.encode(trainer.json));
  files.set(CHECKPOINT_FILES.trainerTensors, trainer.tensors);
  return files;
}

/** A checkpoint read back; a missing or malformed file is a FormatError naming it. */
export function decodeRunCheckpoint(files: ReadonlyMap<string, Uint8Array>): RunCheckpoint {
  const need = (name: string) => {
    const bytes = files.get(name);
    if (bytes === undefined) throw new FormatError({ file: name, expected: `present in the checkpoint (it has ${[...files.keys()].join(', ') || 'no files'})`, found: 'missing' });
    return bytes;
  };
  const text = new TextDecoder();
  const json = parseJsonFile(text.decode(need(CHECKPOINT_FILES.run)), CHECKPOINT_FILES.run, CHECKPOINT_JSON, 'a run checkpoint written by this app');
  const spec = parseRunSpec(json.spec, `${CHECKPOINT_FILES.run}: spec`);
  const trainer = decodeTrainerState(need(CHECKPOINT_FILES.trainerTensors), text.decode(need(CHECKPOINT_FILES.trainerJson)), { tensors: CHECKPOINT_FILES.trainerTensors, json: CHECKPOINT_FILES.trainerJson });
  if (trainer.step !== json.step) {
    throw new FormatError({ file: CHECKPOINT_FILES.trainerJson, field: 'field "step"', expected: `the step of ${CHECKPOINT_FILES.run} (${json.step})`, found: String(trainer.step) });
  }
  let kept: Map<string, AdapterParams> | null = null;
  if (json.heldOut.kept !== null) {
    const file = parseSafetensors(need(CHECKPOINT_FILES.best), CHECKPOINT_FILES.best);
    kept = new Map(readAdapterTensors(file, CHECKPOINT_FILES.best, json.heldOut.kept, 'best').map(({ name, params }) => [name, params]));
  }
  return {
    spec,
    reason: json.reason,
    savedAt: json.savedAt,
    step: json.step,
    totalSteps: json.totalSteps,
    before: json.before,
    heldOut: { history: json.heldOut.history, bestLoss: json.heldOut.bestLoss ?? Infinity, bestStep: json.heldOut.bestStep, sinceBest: json.heldOut.sinceBest, kept },
    trainMs: json.trainMs,
    resumedAt: json.resumedAt,
    engine: json.engine,
    trainer,
  };
}
