// The typed configuration of one adapter method (docs/D2LORA.md) and its validation. Configs
// arrive from the UI, share links and the CLI, so resolveAdapterConfig checks every field at
// run time and names the field and what it expected when one is wrong.

export type AdapterMethod = 'd2lora' | 'lora' | 'dora';
export type AdapterScaling = 'standard' | 'rslora';
/** 'paper': the spec's init table. An enum so that a future init is a new value, not a flag. */
export type AdapterInit = 'paper';

export const ADAPTER_METHODS: readonly AdapterMethod[] = ['d2lora', 'lora', 'dora'];
export const ADAPTER_SCALINGS: readonly AdapterScaling[] = ['standard', 'rslora'];
export const ADAPTER_INITS: readonly AdapterInit[] = ['paper'];

export interface AdapterConfig {
  method: AdapterMethod;
  /** Rank of each low-rank branch (D2-LoRA has two branches of rank r). */
  r: number;
  /** Scale numerator: s = α/r, or α/√r with rsLoRA scaling. */
  alpha: number;
  /** Weight of the minus branch, ΔW = s(U₊D₊ − τU₋D₋). D2-LoRA only. */
  tau: number;
  /** Project V = W0 + ΔW onto the row norms c of W0 (g = c/n). D2-LoRA only; off makes it LoRA of rank 2r. */
  project: boolean;
  /** ρ in W_eff = diag(g)·V + ρ·ΔW; 1 = the paper's Eq. 3, 0 = the no-re-add ablation. D2-LoRA with projection only. */
  readd: number;
  /** Treat g as a constant in the backward. D2-LoRA: configurable; DoRA: always true; LoRA: unused. */
  detachNorm: boolean;
  scaling: AdapterScaling;
  init: AdapterInit;
  /** Seed of the init's generator (a safe integer). */
  seed: number;
  /** ε in n_j = sqrt(‖V_j‖² + ε). */
  eps: number;
}

/** Every field of AdapterConfig, for the check of unknown fields. */
export const ADAPTER_CONFIG_FIELDS: readonly (keyof AdapterConfig)[] = ['method', 'r', 'alpha', 'tau', 'project', 'readd', 'detachNorm', 'scaling', 'init', 'seed', 'eps'];

/** The frozen layer an adapter wraps: W0 is (out, in). */
export interface LayerShape {
  out: number;
  in: number;
}

export class AdapterConfigError extends Error {
  constructor(
    readonly field: string,
    /** What the field must hold, e.g. "a positive integer". */
    readonly expected: string,
    readonly found: unknown,
  ) {
    // adapter config: r: found 0; expected a positive integer
    super(`adapter config: ${field}: found ${describe(found)}; expected ${expected}`);
    this.name = 'AdapterConfigError';
  }
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `'${value}'` : String(value);
}

/**
 * Checks every field of a complete configuration (the defaults are the RunSpec's, src/run/spec.ts);
 * with `layer`, also that the rank fits the layer (r ≤ min(in, out)). Throws AdapterConfigError
 * naming the field. Returns a copy in which DoRA's detachNorm is true: DoRA always detaches its
 * norm. LoRA keeps but never reads tau, project, readd and detachNorm.
 */
export function checkAdapterConfig(config: AdapterConfig, layer?: LayerShape): AdapterConfig {
  for (const field of Object.keys(config)) {
    if (!ADAPTER_CONFIG_FIELDS.includes(field as keyof AdapterConfig)) {
      throw new AdapterConfigError(field, `no such field (the fields are ${ADAPTER_CONFIG_FIELDS.join(', ')})`, (config as unknown as Record<string, unknown>)[field]);
    }
  }
  for (const field of ADAPTER_CONFIG_FIELDS) {
    if (config[field] === undefined) throw new AdapterConfigError(field, 'a value (the configuration must be complete)', undefined);
  }
  const cfg: AdapterConfig = { ...config };

  if (!ADAPTER_METHODS.includes(cfg.method)) throw new AdapterConfigError('method', `one of ${ADAPTER_METHODS.join(', ')}`, cfg.method);
  if (!Number.isInteger(cfg.r) || cfg.r <= 0) throw new AdapterConfigError('r', 'a positive integer', cfg.r);
  if (layer !== undefined && cfg.r > Math.min(layer.in, layer.out)) {
    const limit = Math.min(layer.in, layer.out);
    throw new AdapterConfigError('r', `at most min(in, out) = ${limit} for a ${layer.out}×${layer.in} layer`, cfg.r);
  }
  if (!Number.isFinite(cfg.alpha) || cfg.alpha <= 0) throw new AdapterConfigError('alpha', 'a finite number > 0', cfg.alpha);
  if (!Number.isFinite(cfg.tau)) throw new AdapterConfigError('tau', 'a finite number', cfg.tau);
  if (typeof cfg.project !== 'boolean') throw new AdapterConfigError('project', 'true or false', cfg.project);
  if (!Number.isFinite(cfg.readd)) throw new AdapterConfigError('readd', 'a finite number (1 = paper, 0 = ablation)', cfg.readd);
  if (typeof cfg.detachNorm !== 'boolean') throw new AdapterConfigError('detachNorm', 'true or false', cfg.detachNorm);
  if (!ADAPTER_SCALINGS.includes(cfg.scaling)) {
    throw new AdapterConfigError('scaling', `one of ${ADAPTER_SCALINGS.join(', ')}`, cfg.scaling);
  }
  if (!ADAPTER_INITS.includes(cfg.init)) throw new AdapterConfigError('init', `one of ${ADAPTER_INITS.join(', ')}`, cfg.init);
  if (!Number.isSafeInteger(cfg.seed)) throw new AdapterConfigError('seed', 'a safe integer', cfg.seed);
  if (!Number.isFinite(cfg.eps) || cfg.eps <= 0) throw new AdapterConfigError('eps', 'a finite number > 0', cfg.eps);

  if (cfg.method === 'dora') {
    // DoRA always detaches its norm, as PEFT does: the DoRA paper (Liu et al. 2024, §4.3) treats
    // ‖W0 + sUD‖ as a constant so the backward need not differentiate the row norms of the
    // full out×in weight, saving memory at no measurable accuracy cost. D2-LoRA differentiates
    // through n by default because removing the radial gradient component is its point.
    cfg.detachNorm = true;
  }
  return cfg;
}

/** s = α/r (standard) or α/√r (rsLoRA). */
export function adapterScale(cfg: Pick<AdapterConfig, 'alpha' | 'r' | 'scaling'>): number {
  return cfg.scaling === 'rslora' ? cfg.alpha / Math.sqrt(cfg.r) : cfg.alpha / cfg.r;
}
