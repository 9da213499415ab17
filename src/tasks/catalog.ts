// The tasks the playground offers by name: the paper's kind of benchmarks (multiple-choice QA and
// reading comprehension), where each is published, the sha256 and size of each file, and how
// its prompts read. A mirror folder (src/io/mirror.ts) holds the same files under
// data/qa/<task>/<file>; without one they are downloaded from their public URLs.
//
// The seven downloadable tasks are the LLM-Adapters repository's copies (the format parsed by
// parseLlmAdaptersJson). BoolQ comes without its passages there: the questions alone. PIQA,
// Social IQa and WinoGrande publish only a dev split there, which the protocol splits into
// training and held-out parts (src/tasks/protocol.ts). HellaSwag and CommonsenseQA are not
// redistributed here: users supply their files. `story` is generated (src/tasks/story.ts).

import { didYouMean } from '../util/suggest';
import type { ColumnMapping } from './formats';
import type { TemplateId } from './templates';

export interface CatalogFile {
  /** The file's name, also its name in the mirror folder and at the end of its URL. */
  name: string;
  split: 'train' | 'test';
  /** Lowercase hex sha256 of the published file. */
  sha256: string;
  bytes: number;
  /** Items (questions) in the file. */
  items: number;
}

interface CatalogCommon {
  name: string;
  title: string;
  description: string;
  template: TemplateId;
  /** Choices per question, as the UI says it. */
  choices: string;
}

export interface DownloadedTask extends CatalogCommon {
  source: 'download';
  format: 'llm-adapters';
  /** Only a dev split is published (file split 'test'); the protocol splits it. */
  devOnly: boolean;
  files: CatalogFile[];
  licence: string;
}

export interface UserFilesTask extends CatalogCommon {
  source: 'user';
  /** What the user's files must hold, for the UI and the error when none are given. */
  expectedFiles: string;
  /** How JSONL and CSV files of the task name their fields, unless the user says otherwise. */
  mapping: ColumnMapping;
}

/** Generated (its options, and their defaults, are the RunSpec's story task: src/run/spec.ts). */
export interface BuiltinTask extends CatalogCommon {
  source: 'builtin';
}

export type CatalogEntry = DownloadedTask | UserFilesTask | BuiltinTask;

/** Where the LLM-Adapters repository publishes its task files: <base><task>/<file>. */
export const LLM_ADAPTERS_DATASET_BASE = 'https://raw.githubusercontent.com/AGI-Edgerunners/LLM-Adapters/main/dataset/';
const LLM_ADAPTERS_LICENCE = "ODC-By 1.0 (the LLM-Adapters repository's DATA_LICENSE)";

function llmAdapters(
  common: CatalogCommon,
  files: { train?: Omit<CatalogFile, 'name' | 'split'>; test: Omit<CatalogFile, 'name' | 'split'> },
): DownloadedTask {
  const list: CatalogFile[] = [];
  if (files.train !== undefined) list.push({ name: 'train.json', split: 'train', ...files.train });
  list.push({ name: 'test.json', split: 'test', ...files.test });
  return { ...common, source: 'download', format: 'llm-adapters', devOnly: files.train === undefined, files: list, licence: LLM_ADAPTERS_LICENCE };
}

export const TASK_CATALOG: readonly CatalogEntry[] = [
  llmAdapters(
    {
      name: 'boolq',
      title: 'BoolQ',
      description: 'Yes/no questions from Google searches, here without their Wikipedia passages (true/false).',
      template: 'question-answer',
      choices: '2 (true / false)',
    },
    {
      train: { sha256: '5ccbaceebaddc69765e1c4a363632196b81851d303696672165ab59ec4e48c83', bytes: 2_599_507, items: 9_427 },
      test: { sha256: '89df2397cbca81dc31adcc6f7f5b635821aa0565aafde46725b2b4bd39b4dfa9', bytes: 899_151, items: 3_270 },
    },
  ),
  llmAdapters(
    {
      name: 'piqa',
      title: 'PIQA',
      description: 'Physical commonsense: which of two solutions reaches a goal. Dev split only.',
      template: 'goal-solution',
      choices: '2',
    },
    { test: { sha256: '3860d11b9b42e590b6b4bbc1643214d373ed0b0d4ac62fcc7bdceb8e044ad141', bytes: 913_157, items: 1_838 } },
  ),
  llmAdapters(
    {
      name: 'social_i_qa',
      title: 'Social IQa',
      description: "Social commonsense: people's motives, reactions and what happens next. Dev split only.",
      template: 'question-answer',
      choices: '3',
    },
    { test: { sha256: '71543f41127451945379d106ffedaef502f1c8770dff6d2f543aca85e3080b1d', bytes: 843_748, items: 1_954 } },
  ),
  llmAdapters(
    {
      name: 'winogrande',
      title: 'WinoGrande',
      description: 'Pronoun resolution: which of two names or things fills the blank "_". Dev split only.',
      template: 'fill-blank',
      choices: '2',
    },
    { test: { sha256: '6946f5209e7114c65c6d04f8f644c5a061af20d730b1cfe158fff3dc44076fb9', bytes: 497_409, items: 1_267 } },
  ),
  llmAdapters(
    {
      name: 'ARC-Easy',
      title: 'ARC-Easy',
      description: 'Grade-school science questions, the easy set.',
      template: 'question-answer',
      choices: '4 (a few with 3 or 5)',
    },
    {
      train: { sha256: '6a06cece3dec32f4fb1c1b0fc29dab14be7cf3053b417290dbc6cd845359f5ff', bytes: 1_092_324, items: 2_251 },
      test: { sha256: '3f32a84716ca6d57d38728bf80cc8117aecd17445c2cf29a68b571b810eb82dc', bytes: 1_157_216, items: 2_376 },
    },
  ),
  llmAdapters(
    {
      name: 'ARC-Challenge',
      title: 'ARC-Challenge',
      description: 'Grade-school science questions that simple retrieval and co-occurrence methods get wrong.',
      template: 'question-answer',
      choices: '4 (a few with 3 or 5)',
    },
    {
      train: { sha256: 'a9debff28aafed86a08211dc3584a3b6cb38edca8c56bb34cd5002ed54aeebfb', bytes: 585_556, items: 1_119 },
      test: { sha256: '4a89ce368ae01a71d268d9851686738b2a0a1d84271116bab49a1dd2b48ecad7', bytes: 622_510, items: 1_172 },
    },
  ),
  llmAdapters(
    {
      name: 'openbookqa',
      title: 'OpenBookQA',
      description: 'Elementary science questions that need a fact and some common knowledge to combine with it.',
      template: 'question-answer',
      choices: '4',
    },
    {
      train: { sha256: 'a1e094eeea01f70c0baa880f37497b26700ae99b243927b9c529984de9b1fe90', bytes: 1_987_446, items: 4_957 },
      test: { sha256: '8479930f7b8a26052c78250280b5465a4016ca7fc806af440d0f37e243f3099e', bytes: 202_545, items: 500 },
    },
  ),
  {
    name: 'hellaswag',
    title: 'HellaSwag',
    description: 'Commonsense sentence completion: the most plausible of four endings. Bring your own files.',
    template: 'continuation',
    choices: '4',
    source: 'user',
    expectedFiles:
      'LLM-Adapters JSON (test.json: "Please choose the correct ending to complete the given sentence: <activity>: <context>\\n\\n' +
      'Ending1: … Ending4: …\\n\\nAnswer format: ending1/ending2/ending3/ending4", answer "ending1"…), or JSONL/CSV as ' +
      "Hugging Face's Rowan/hellaswag has it: ctx, endings (a list), label (0-based).",
    mapping: { question: 'ctx', choices: 'endings', answer: 'label', answerFormat: 'index' },
  },
  {
    name: 'commonsense_qa',
    title: 'CommonsenseQA',
    description: 'Questions that need everyday knowledge, five choices each. Bring your own files.',
    template: 'question-answer',
    choices: '5',
    source: 'user',
    expectedFiles:
      "JSONL/CSV as Hugging Face's tau/commonsense_qa has it: question, choices {label: [A…E], text: […]}, answerKey " +
      '(for the original release\'s layout use the mapping {question: "question.stem", choices: "question.choices", answer: "answerKey"}), ' +
      'or LLM-Adapters-style JSON (Answer1: … Answer5:, answer "answer1"…).',
    mapping: { question: 'question', choices: 'choices', answer: 'answerKey' },
  },
  {
    name: 'story',
    title: 'Story questions (built in)',
    description:
      "Short children's stories and a question about them: by default what colour a child's thing was (two children, " +
      'four colours to choose from); the generator also asks who had what, what someone had, where someone went, and yes/no. ' +
      'Generated, seedable, no download. Sized for stories260K.',
    template: 'story',
    choices: '4 (yes/no: 2)',
    source: 'builtin',
  },
];

export function findCatalogEntry(name: string): CatalogEntry | undefined {
  return TASK_CATALOG.find((t) => t.name === name) ?? TASK_CATALOG.find((t) => t.name.toLowerCase() === name.toLowerCase());
}

export function getCatalogEntry(name: string): CatalogEntry {
  const entry = findCatalogEntry(name);
  if (entry === undefined) {
    const names = TASK_CATALOG.map((t) => t.name);
    throw new Error(`unknown task "${name}"${didYouMean(name, names)}; the catalog has ${names.join(', ')}`);
  }
  return entry;
}

/** The public URL of a file of the task (of its folder, for ''). */
export function catalogFileUrl(entry: DownloadedTask, fileName: string): string {
  return `${LLM_ADAPTERS_DATASET_BASE}${entry.name}/${fileName}`;
}
