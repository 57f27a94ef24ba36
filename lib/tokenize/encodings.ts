/**
 * The built-in encodings (OpenAI's rank data, MIT-licensed, converted from the
 * `tiktoken` npm package by scripts/build-encodings.mjs into encodings/) and
 * tiktoken's model-name table.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { rangeError } from '../errors.js';
import { packageRoot } from '../native.js';

export const ENCODING_NAMES = ['r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base', 'gpt2'] as const;
export type EncodingName = (typeof ENCODING_NAMES)[number];

/** gpt2 is tiktoken's other name for r50k_base. */
export function encodingFile(name: EncodingName): string {
  return join(packageRoot, 'encodings', `${name === 'gpt2' ? 'r50k_base' : name}.bin`);
}

// tiktoken's MODEL_PREFIX_TO_ENCODING, for dated and fine-tuned model names.
const PREFIXES: [string, EncodingName][] = [
  ['o1-', 'o200k_base'], ['o3-', 'o200k_base'], ['o4-mini-', 'o200k_base'], ['gpt-5-', 'o200k_base'],
  ['gpt-4.5-', 'o200k_base'], ['gpt-4.1-', 'o200k_base'], ['chatgpt-4o-', 'o200k_base'], ['gpt-4o-', 'o200k_base'],
  ['gpt-4-', 'cl100k_base'], ['gpt-3.5-turbo-', 'cl100k_base'], ['gpt-35-turbo-', 'cl100k_base'],
  ['ft:gpt-4o', 'o200k_base'], ['ft:gpt-4', 'cl100k_base'], ['ft:gpt-3.5-turbo', 'cl100k_base'],
  ['ft:davinci-002', 'cl100k_base'], ['ft:babbage-002', 'cl100k_base'],
];

let models: Record<string, string> | undefined;

/** The encoding of an OpenAI model name, as tiktoken's encoding_for_model. */
export function encodingNameForModel(model: string): EncodingName {
  if (typeof model !== 'string') throw rangeError('ERR_LLMK_BAD_ARGUMENT', 'model must be a string');
  models ??= JSON.parse(readFileSync(join(packageRoot, 'encodings', 'models.json'), 'utf8')) as Record<string, string>;
  const exact = models[model];
  if (exact && (ENCODING_NAMES as readonly string[]).includes(exact)) return exact as EncodingName;
  for (const [prefix, name] of PREFIXES) if (model.startsWith(prefix)) return name;
  throw rangeError('ERR_LLMK_UNKNOWN_MODEL', `no built-in encoding is known for model '${model}'`);
}
