// Prompt templates: how a multiple-choice item becomes the text a causal language model reads.
// The model reads the prompt, then each choice as its continuation (a space, then the choice's
// text); the choice with the highest log-likelihood is the model's answer, and training teaches
// the correct continuation. Prompts never end with whitespace: the continuation brings its space,
// which BPE vocabularies fold into the next word (" yes", " Sue").
//
// Templates are named, not stored as functions in a task, so a task (and a run config that names
// one) stays plain data.

import type { MultipleChoiceItem } from './types';

export type TemplateId = 'question-answer' | 'goal-solution' | 'fill-blank' | 'continuation' | 'story';

export interface PromptTemplate {
  id: TemplateId;
  /** How a prompt reads, for the UI: `{context}` stands for the item's context line when it has one. */
  pattern: string;
  /** The text before a choice. */
  prompt(item: MultipleChoiceItem): string;
}

/** `{context}\n` when the item has a context, else nothing. */
function contextLine(item: MultipleChoiceItem): string {
  return item.context === undefined || item.context === '' ? '' : `${item.context}\n`;
}

export const PROMPT_TEMPLATES: Readonly<Record<TemplateId, PromptTemplate>> = Object.freeze({
  // ARC, OpenBookQA, Social IQa, CommonsenseQA, BoolQ (whose choices are "true" / "false").
  'question-answer': {
    id: 'question-answer',
    pattern: '{context}Question: {question}\nAnswer: {choice}',
    prompt: (item) => `${contextLine(item)}Question: ${item.question}\nAnswer:`,
  },
  // PIQA: a goal and two ways to reach it.
  'goal-solution': {
    id: 'goal-solution',
    pattern: '{context}Goal: {question}\nSolution: {choice}',
    prompt: (item) => `${contextLine(item)}Goal: ${item.question}\nSolution:`,
  },
  // WinoGrande: a sentence with a blank "_" and the two names or things that could fill it.
  'fill-blank': {
    id: 'fill-blank',
    pattern: '{context}Sentence: {question}\nThe _ is: {choice}',
    prompt: (item) => `${contextLine(item)}Sentence: ${item.question}\nThe _ is:`,
  },
  // HellaSwag: the start of a description and its possible endings.
  continuation: {
    id: 'continuation',
    pattern: '{context}{question} {choice}',
    prompt: (item) => `${contextLine(item)}${item.question}`,
  },
  // The built-in story task: short markers keep items small in a 512-token vocabulary.
  story: {
    id: 'story',
    pattern: '{context}Q: {question}\nA: {choice}',
    prompt: (item) => `${contextLine(item)}Q: ${item.question}\nA:`,
  },
});

export const TEMPLATE_IDS = Object.keys(PROMPT_TEMPLATES) as readonly TemplateId[];

/** What follows the prompt for choice `index`: a space, then the choice. */
export function choiceContinuation(item: MultipleChoiceItem, index: number): string {
  return ` ${item.choices[index]}`;
}
