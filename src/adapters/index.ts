// Entry point of the adapters: build an adapted linear layer for any method from its config.

import type { GpuContext } from '../gpu/context';
import { AdditiveLayer, RescaledLayer } from './adapted';
import { checkAdapterConfig, type AdapterConfig } from './config';
import { baseRowNorms, initAdapterParams, type AdapterParams } from './init';
import type { AdaptedLinear, BaseLinear, TrainableStorage } from './layer';
import { METHOD_SPECS } from './methods';

export { METHOD_SPECS };

/** A tensor of its own for each trainable tensor and each gradient (the default storage). */
export function ownTrainables(ctx: GpuContext): TrainableStorage {
  return {
    take: (shape, data, label) => ({ param: ctx.upload(data, shape, label), grad: ctx.zeros(shape, 'f32', `∂${label}`) }),
  };
}

/**
 * The shapes of the trainable tensors an adapted layer over `base` takes from its storage, in
 * the order it takes them: U (out×R), D (R×in), and DoRA's magnitude m (out).
 */
export function trainableShapes(config: AdapterConfig, base: Pick<BaseLinear, 'out' | 'in'>): number[][] {
  const spec = METHOD_SPECS[config.method];
  const R = spec.packedRank(config);
  const form = spec.form(config);
  const shapes = [[base.out, R], [R, base.in]];
  if (form.kind === 'rescaled' && form.magnitude === 'trainable') shapes.push([base.out]);
  return shapes;
}

/**
 * An adapted layer over `base`. `init` defaults to the spec's seeded initialisation, which for
 * DoRA needs the base weight on the host (`w0Host`, to set m = ‖W0_j‖). `storage` is where its
 * trainable tensors live (default: tensors of their own).
 */
export function createAdaptedLinear(
  ctx: GpuContext,
  config: AdapterConfig,
  base: BaseLinear,
  opts: { init?: AdapterParams; w0Host?: Float32Array; key?: string | number; storage?: TrainableStorage } = {},
): AdaptedLinear {
  const cfg = checkAdapterConfig(config, base);
  const spec = METHOD_SPECS[cfg.method];
  if (opts.w0Host && !base.rowNorms) base = { ...base, rowNorms: Float32Array.from(baseRowNorms(opts.w0Host, base, base.layout)) };
  const init = opts.init ?? initAdapterParams(cfg, { out: base.out, in: base.in, key: opts.key ?? base.name }, opts.w0Host, { layout: base.layout });
  if (init.method !== cfg.method || init.r !== cfg.r || init.out !== base.out || init.in !== base.in) {
    throw new Error(
      `${base.name}: initial parameters are ${init.method} r=${init.r} for ${init.out}×${init.in}, but the layer is ${cfg.method} r=${cfg.r} for ${base.out}×${base.in}`,
    );
  }
  const storage = opts.storage ?? ownTrainables(ctx);
  return spec.form(cfg).kind === 'additive' ? new AdditiveLayer(ctx, spec, cfg, base, init, storage) : new RescaledLayer(ctx, spec, cfg, base, init, storage);
}

export type { AdaptedLinear, BaseLinear } from './layer';
