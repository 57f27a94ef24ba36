import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Tokenizer } from 'llm-kernels';
import { expectCode, sameBytes } from './helpers.js';
import { brown, udhrTexts } from './tokenize-data.js';

const dir = mkdtempSync(join(tmpdir(), 'llmk-tiktoken-'));

/** Writes the ranks of a built-in encoding as a .tiktoken file, the way OpenAI publishes them. */
function writeRankFile(name: 'cl100k_base' | 'o200k_base' | 'r50k_base'): { path: string; tok: Tokenizer } {
  const tok = Tokenizer.fromEncoding(name);
  const lines: string[] = [];
  const specialIds = new Set(Object.values(tok.specialTokens));
  for (let id = 0; id < tok.vocabSize; id++) {
    if (specialIds.has(id)) continue;
    const bytes = tok.idToBytes(id);
    if (bytes) lines.push(`${Buffer.from(bytes).toString('base64')} ${id}`);
  }
  const path = join(dir, `${name}.tiktoken`);
  writeFileSync(path, lines.join('\n') + '\n');
  return { path, tok };
}

// tiktoken's pat_str for each family.
const PATTERNS = {
  r50k_base: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  cl100k_base: "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

describe('Tokenizer.fromTiktoken', () => {
  it.each(['r50k_base', 'cl100k_base'] as const)('a %s rank file encodes exactly like the built-in', (name) => {
    const { path, tok } = writeRankFile(name);
    const loaded = Tokenizer.fromTiktoken(path, { pattern: PATTERNS[name], specialTokens: tok.specialTokens, name: 'mine' });
    expect(loaded.name).toBe('mine');
    expect(loaded.vocabSize).toBe(tok.vocabSize);
    expect(sameBytes(loaded.encodeOrdinary(brown), tok.encodeOrdinary(brown))).toBe(true);
    for (const { text } of udhrTexts().slice(0, 40)) expect(sameBytes(loaded.encodeOrdinary(text), tok.encodeOrdinary(text))).toBe(true);
    expect([...loaded.encode('<|endoftext|>', { allowedSpecial: 'all' })]).toEqual([...tok.encode('<|endoftext|>', { allowedSpecial: 'all' })]);
  });

  it('rejects malformed files and unsupported patterns with clear errors', () => {
    const write = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const ok = { pattern: PATTERNS.r50k_base };
    expectCode(() => Tokenizer.fromTiktoken(write('a', 'IQ== 0\nnot base64! 1\n'), ok), RangeError, 'ERR_LLMK_BAD_ENCODING', /a:2: expected/);
    expectCode(() => Tokenizer.fromTiktoken(write('b', 'IQ== 0\nIQ== 1\n'), ok), RangeError, 'ERR_LLMK_BAD_ENCODING', /appears twice/);
    expectCode(() => Tokenizer.fromTiktoken(write('c', 'IQ== 0\nIg== 0\n'), ok), RangeError, 'ERR_LLMK_BAD_ENCODING', /rank 0 appears twice/);
    expectCode(() => Tokenizer.fromTiktoken(write('d', ''), ok), RangeError, 'ERR_LLMK_BAD_ENCODING', /no ranks/);
    expectCode(() => Tokenizer.fromTiktoken(write('e', 'IQ== 0\n'), { pattern: '\\w+|\\s+' }), RangeError, 'ERR_LLMK_UNSUPPORTED', /pattern: \\w\+\|\\s\+/);
    expectCode(() => Tokenizer.fromTiktoken(write('f', 'IQ== 0\n'), { ...ok, specialTokens: { '<x>': 0 } }), RangeError, 'ERR_LLMK_BAD_OPTION', /also an ordinary rank/);
    expectCode(() => Tokenizer.fromTiktoken(write('g', 'IQ== 0\n'), {} as never), TypeError, 'ERR_LLMK_BAD_OPTION', /pattern/);
    expect(() => Tokenizer.fromTiktoken(join(dir, 'missing.tiktoken'), ok)).toThrow(/ENOENT/);
    // A file with a gap in its ranks is fine: the gap is simply not a token.
    const gap = Tokenizer.fromTiktoken(write('h', 'IQ== 0\nIg== 2\n'), ok);
    expect(gap.idToBytes(1)).toBeUndefined();
    expect([...gap.encodeOrdinary('!')]).toEqual([0]);
    // A byte the vocabulary lacks cannot be encoded: a clear error, not a made-up id.
    expectCode(() => gap.encodeOrdinary('?'), RangeError, 'ERR_LLMK_UNENCODABLE', /byte 0x3f has no token/);
  });
});

describe('cached pieces with large ids', () => {
  // A 9-16-byte piece of four tokens is cached in 20 bits a token when every
  // id is below 2^20, in a wider entry otherwise: ids that use all 20 bits
  // and ids past them must come back the same from the cache.
  it('four-token pieces encode the same on the first call and from the cache', () => {
    const lines: string[] = [];
    for (let b = 0; b < 256; b++) lines.push(`${Buffer.from([b]).toString('base64')} ${b}`);
    const add = (token: string, rank: number) => lines.push(`${Buffer.from(token).toString('base64')} ${rank}`);
    // "abcdefghijk" -> abc | def | ghi | jk: each part's first pair, then the part.
    const cases = [
      { word: 'abcdefghijk', ranks: [0xfffff, 0xabcde, 0x0f0f0, 0x80001] }, // below 2^20, all 20 bits used
      { word: 'lmnopqrstuv', ranks: [0x100000, 300, 0x1fffff, 301] }, // two past 2^20
      { word: 'wxyzABCDEFG', ranks: [400, 401, 402, 0x100001] }, // the last past 2^20
    ];
    let next = 1000;
    for (const { word, ranks } of cases) {
      const parts = [word.slice(0, 3), word.slice(3, 6), word.slice(6, 9), word.slice(9)];
      const seen = new Set<string>();
      parts.forEach((part, i) => {
        if (part.length === 3 && !seen.has(part.slice(0, 2))) seen.add(part.slice(0, 2)), add(part.slice(0, 2), next++);
        if (!seen.has(part)) seen.add(part), add(part, ranks[i]);
      });
    }
    const path = join(dir, 'large-ids.tiktoken');
    writeFileSync(path, lines.join('\n') + '\n');
    const tok = Tokenizer.fromTiktoken(path, { pattern: PATTERNS.r50k_base });
    for (const { word, ranks } of cases) {
      for (let call = 0; call < 3; call++) expect([...tok.encodeOrdinary(word)]).toEqual(ranks);
      expect(tok.decode(tok.encodeOrdinary(`${word} ${word}`).filter((id) => id !== 32))).toBe(word + word);
    }
  });
});
