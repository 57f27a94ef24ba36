/**
 * String BLEU with sacreBLEU's semantics: its tokenizers ('13a', 'intl',
 * 'char', 'none'), lowercasing, whitespace splitting as Python's str.split(),
 * and empty references dropped. Words become ids through a per-call
 * dictionary, then take the same native path as token-ID BLEU.
 */
import { rangeError, typeError } from '../errors.js';

export const TEXT_TOKENIZERS = ['13a', 'intl', 'char', 'none'] as const;
export type TextTokenizer = (typeof TEXT_TOKENIZERS)[number];

// Python's str.isspace() set (str.split() with no argument splits on runs of it).
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const SPLIT = new RegExp(`[${PY_SPACE}]+`, 'u');
const TRAILING = new RegExp(`[${PY_SPACE}]+$`, 'u');

/** Python's str.split(): no empty strings. */
function pySplit(s: string): string[] {
  return s.split(SPLIT).filter((w) => w.length > 0);
}

// mteval-v13a, as sacreBLEU's TokenizerRegexp (the language-dependent part).
const RE_13A: [RegExp, string][] = [
  [/([{-~[-` -&(-+:-@/])/g, ' $1 '],
  [/([^0-9])([.,])/g, '$1 $2 '],
  [/([.,])([^0-9])/g, ' $1 $2'],
  [/([0-9])(-)/g, '$1 $2 '],
];

// mteval-v14 international (sacreBLEU's TokenizerV14International).
const RE_INTL: [RegExp, string][] = [
  [/(\P{N})(\p{P})/gu, '$1 $2 '],
  [/(\p{P})(\P{N})/gu, ' $1 $2'],
  [/(\p{S})/gu, ' $1 '],
];

function tokenize13a(line: string): string {
  let s = line.replaceAll('<skipped>', '').replaceAll('-\n', '').replaceAll('\n', ' ');
  s = s.replaceAll('&quot;', '"').replaceAll('&amp;', '&').replaceAll('&lt;', '<').replaceAll('&gt;', '>');
  s = ` ${s} `;
  for (const [re, rep] of RE_13A) s = s.replace(re, rep);
  return pySplit(s).join(' ');
}

function tokenizeIntl(line: string): string {
  let s = line;
  for (const [re, rep] of RE_INTL) s = s.replace(re, rep);
  return pySplit(s).join(' ');
}

/** The words sacreBLEU counts n-grams over, for one segment. */
export function textWords(segment: string, tokenize: TextTokenizer, lowercase: boolean): string[] {
  let s = lowercase ? segment.toLowerCase() : segment;
  s = s.replace(TRAILING, ''); // sacreBLEU: tokenizer(sent.rstrip())
  switch (tokenize) {
    case '13a':
      return pySplit(tokenize13a(s));
    case 'intl':
      return pySplit(tokenizeIntl(s));
    case 'char':
      return pySplit([...s].join(' ')); // code points, as Python iterates a str
    case 'none':
      return pySplit(s);
  }
}

/** Maps words to dense ids; the same dictionary serves a whole call. */
export class WordIds {
  private readonly ids = new Map<string, number>();
  encode(words: string[]): Uint32Array {
    const out = new Uint32Array(words.length);
    for (let i = 0; i < words.length; i++) {
      let id = this.ids.get(words[i]);
      if (id === undefined) this.ids.set(words[i], (id = this.ids.size));
      out[i] = id;
    }
    return out;
  }
}

/** Drops null and '' references (sacreBLEU's variable reference count); at least one must remain. */
export function checkTextReferences(refs: unknown, index: number): string[] {
  if (!Array.isArray(refs)) throw typeError('ERR_LLMK_BAD_ARGUMENT', `references[${index}] must be an array of strings (the references of hypothesis ${index})`);
  const kept: string[] = [];
  refs.forEach((r, j) => {
    if (r === null || r === undefined || r === '') return;
    if (typeof r !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', `references[${index}][${j}] must be a string`);
    kept.push(r);
  });
  if (kept.length === 0) throw rangeError('ERR_LLMK_BAD_SHAPE', `references[${index}] has no non-empty reference (sacreBLEU: "Empty or None reference sentence found")`);
  return kept;
}
