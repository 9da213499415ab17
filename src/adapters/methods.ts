// The three methods' specs by name: how each packs its factors and which weight form it trains.

import type { AdapterMethod } from './config';
import { d2lora } from './d2lora';
import { dora } from './dora';
import { lora } from './lora';
import type { MethodSpec } from './method';

export const METHOD_SPECS: Readonly<Record<AdapterMethod, MethodSpec>> = { lora, dora, d2lora };
