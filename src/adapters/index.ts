// Entry point of the adapters: build an adapted linear layer for any method from its config.

import type { GpuContext } from '../gpu/context';
import { AdditiveLayer, RescaledLayer } from './adapted';
import { checkAdapterConfig, type AdapterConfig } from './config';
import { baseRowNorms, initAdapterParams, type AdapterParams } from './init';
import type { AdaptedLinear, BaseLinear } from './layer';
import { METHOD_SPECS } from './methods';

export { METHOD_SPECS };

/**
 * An adapted layer over `base`. `init` defaults to the spec's seeded initialisation, which for
 * DoRA needs the base weight on the host (`w0Host`, to set m = ‖W0_j‖).
 */
export function createAdaptedLinear(
  ctx: GpuContext,
  config: AdapterConfig,
  base: BaseLinear,
  opts: { init?: AdapterParams; w0Host?: Float32Array; key?: string | number } = {},
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
  return spec.form(cfg).kind === 'additive' ? new AdditiveLayer(ctx, spec, cfg, base, init) : new RescaledLayer(ctx, spec, cfg, base, init);
}

export type { AdaptedLinear, BaseLinear } from './layer';
