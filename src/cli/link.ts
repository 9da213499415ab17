// `d2lora link`: the share link of a run the flags describe (or a run.json, or another link), for
// the playground page at an origin: opening it fills the page with exactly that run.

import { runLinkUrl } from '../share/link';
import { UsageError, type FlagSpec, type FlagValues } from './args';
import { runFromFlags, SPEC_FLAGS } from './spec-flags';

/** The page `npm start` serves. */
export const DEFAULT_PAGE_ORIGIN = 'http://localhost:4173/';
export const ORIGIN_ENV = 'D2LORA_ORIGIN';

export const linkFlags: Record<string, FlagSpec> = {
  ...SPEC_FLAGS,
  origin: { type: 'string', help: `the playground page's URL ($${ORIGIN_ENV}, else ${DEFAULT_PAGE_ORIGIN})` },
};

export async function linkCommand(flags: FlagValues): Promise<number> {
  const origin = typeof flags.origin === 'string' ? flags.origin : process.env[ORIGIN_ENV] || DEFAULT_PAGE_ORIGIN;
  let page: URL;
  try {
    page = new URL(origin);
  } catch {
    throw new UsageError(`--origin ${origin} is not a URL (e.g. ${DEFAULT_PAGE_ORIGIN})`);
  }
  if (page.protocol !== 'https:' && page.protocol !== 'http:') throw new UsageError(`--origin must be an http(s) URL, got ${origin}`);
  const { spec, warnings } = await runFromFlags(flags);
  for (const w of warnings) process.stderr.write(`warning: ${w}\n`);
  if (spec.task.kind === 'file') {
    process.stderr.write('note: the task is a local file; the link names it with its sha256, and whoever opens the link picks the same file\n');
  }
  if (spec.model.kind === 'files') {
    process.stderr.write(
      `note: the model is a local folder; the link names it ("${spec.model.name}")${spec.model.files.length > 0 ? ' and its files with their sha256' : ', not its files'}, and whoever opens the link picks it\n`,
    );
  }
  console.log(runLinkUrl(spec, page.href));
  return 0;
}
