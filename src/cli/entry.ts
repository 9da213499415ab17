// Entry point of the bundled command line (scripts/prepare-gpu-carry.sh builds it with Vite for
// machines without Node's toolchain); `scripts/d2lora.mjs` is the entry in a checkout.
import { main } from './main';

process.exitCode = await main(process.argv.slice(2));
