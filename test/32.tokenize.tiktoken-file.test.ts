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
