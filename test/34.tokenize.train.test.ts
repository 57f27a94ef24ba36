/**
 * BPE training against Hugging Face's own trainer: the `tokenizers` npm
 * package trains with its default BpeTrainer (vocab 30000, no initial
 * alphabet, min_frequency 0) over a ByteLevel pre-tokenizer; ours must give
 * the same vocabulary and the same merges in the same order, on English
 * prose and on every UDHR language, and encode like it.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Tokenizer } from 'llm-kernels';
import { byteLevelToBytes } from '../lib/tokenize/byte-level.js';
import { expectCode, freshSeed, mergePair, rng } from './helpers.js';
import { brown, udhrTexts } from './tokenize-data.js';

const require = createRequire(import.meta.url);
const hf = require('tokenizers') as typeof import('tokenizers');
const dir = mkdtempSync(join(tmpdir(), 'llmk-train-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Model { model: { vocab: Record<string, number>; merges: [string, string][] } }

function hfTrain(file: string, useRegex = true): { json: Model; tok: InstanceType<typeof hf.Tokenizer> } {
  const tok = new hf.Tokenizer(hf.BPE.empty());
  tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, useRegex));
  tok.train([file]);
  const out = join(dir, 'hf.json');
  tok.save(out);
  return { json: JSON.parse(readFileSync(out, 'utf8')) as Model, tok };
}

function corpus(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

const udhr = udhrTexts();


describe('Tokenizer.train: identical to tokenizers BpeTrainer', () => {
  const cases: [string, () => string, 'gpt2' | 'none'][] = [
    ['English prose (Brown sample)', () => brown, 'gpt2'],
    // Every language at least once; the whole set would take the oracle too long, so each contributes its first 2,000 characters.
    ['all 532 UDHR languages', () => udhr.map((u) => u.text.slice(0, 2000)).join('\n'), 'gpt2'],
    // The whole of it (8 MB): enough distinct words for the counting table to grow many times
    // (a count once added twice across a growth changed merge 805 here).
    ['the whole UDHR, every language in full', () => udhr.map((u) => u.text).join('\n'), 'gpt2'],
    // No pre-tokenizer (ByteLevel with use_regex false): each line is one word and merges cross
    // spaces. Lines deduplicated: a line repeated verbatim would become one token past our
    // 255-byte limit, which tokenizers does not have.
    ['English prose without pre-tokenization (pattern none)', () => [...new Set(brown.split('\n'))].join('\n'), 'none'],
  ];
  it.each(cases)('%s: same vocabulary, same merges in the same order, same ids when encoding', async (name, text, pattern) => {
    const file = corpus(`${name.length}.txt`, text());
    const oracle = hfTrain(file, pattern === 'gpt2');
    const ours = await Tokenizer.train({ files: [file] }, { initialAlphabet: false, vocabSize: 30000, pattern });
    const json = JSON.parse(ours.toHuggingFace()) as Model;
    expect(Object.keys(json.model.vocab).length).toBe(Object.keys(oracle.json.model.vocab).length);
    expect(json.model.vocab).toEqual(oracle.json.model.vocab);
    const theirs = oracle.json.model.merges.map((m) => (typeof m === 'string' ? (m as string).split(' ') : m));
    expect(json.model.merges.length).toBe(theirs.length);
    for (let i = 0; i < theirs.length; i++) if (json.model.merges[i]![0] !== theirs[i]![0] || json.model.merges[i]![1] !== theirs[i]![1]) expect.fail(`merge ${i}: ${JSON.stringify(json.model.merges[i])} vs ${JSON.stringify(theirs[i])}`);
    // Encoding: ours against tokenizers with the trained model, on held-out text.
    const samples = [brown.slice(250000, 252000), ...udhr.filter((_, i) => i % 50 === 0).map((u) => u.text.slice(2000, 2600))];
    for (const s of samples) {
      const want = (await oracle.tok.encode(s, null, { addSpecialTokens: false })).getIds();
      expect(Array.from(ours.encodeOrdinary(s))).toEqual(want);
    }
  });
});

describe('Tokenizer.train: options and sources', () => {
  it('gives special tokens ids 0..k-1 and all 256 bytes next; toHuggingFace loads in tokenizers and encodes the same', async () => {
    const specials = ['<|endoftext|>', '<pad>'];
    const tok = await Tokenizer.train([brown], { vocabSize: 1000, specialTokens: specials });
    expect(tok.vocabSize).toBe(1000);
    expect(tok.specialTokens).toEqual({ '<|endoftext|>': 0, '<pad>': 1 });
    for (let b = 0; b < 256; b++) expect(tok.idToBytes(tok.tokenToId(Uint8Array.of(b)))).toEqual(Uint8Array.of(b));
    const text = brown.slice(1000, 5000) + '<|endoftext|>';
    expect(tok.decode(tok.encode(text, { allowedSpecial: 'all' }))).toBe(text);
    const theirs = hf.Tokenizer.fromString(tok.toHuggingFace());
    const want = (await theirs.encode(text, null, { addSpecialTokens: false })).getIds();
    expect(Array.from(tok.encode(text, { allowedSpecial: 'all' }))).toEqual(want);
    // toTiktoken: a rank file tiktoken-style loaders read.
    const ranks = join(dir, 'trained.tiktoken');
    writeFileSync(ranks, tok.toTiktoken());
    const viaRanks = Tokenizer.fromTiktoken(ranks, { pattern: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", specialTokens: { '<|endoftext|>': 0, '<pad>': 1 } });
    expect(viaRanks.decode(viaRanks.encode(text, { allowedSpecial: 'all' }))).toBe(text);
  });

  it('keeps a special token\'s id for the merge that spells it, as tokenizers\' trainer does', async () => {
    const tok = await Tokenizer.train([brown], { vocabSize: 3000, specialTokens: ['the'] });
    const json = JSON.parse(tok.toHuggingFace()) as Model;
    expect(json.model.vocab['the']).toBe(0);
    const spelled = json.model.merges.map((m) => (typeof m === 'string' ? (m as string).replace(' ', '') : m.join('')));
    expect(spelled).toContain('the'); // merged, and no second id made for it
    expect(Object.values(json.model.vocab).filter((id) => id === 0)).toHaveLength(1);
    expect(Array.from(tok.encodeOrdinary('the'))).toEqual([0]);
    expect(tok.decode(tok.encodeOrdinary('the other theory'))).toBe('the other theory');
  });

  it('reads arrays, files (line by line, newline kept) and async iterables alike', async () => {
    const seed = freshSeed('train sources');
    const r = rng(seed);
    const lines = brown.split('\n').slice(0, 800).map((l) => l + '\n');
    const file = corpus('lines.txt', lines.join(''));
    async function* gen() {
      for (const l of lines) {
        if (r() % 7 === 0) await new Promise((res) => setImmediate(res));
        yield l;
      }
    }
    const a = (await Tokenizer.train(lines, { vocabSize: 700 })).toHuggingFace();
    const b = (await Tokenizer.train({ files: [file] }, { vocabSize: 700 })).toHuggingFace();
    const c = (await Tokenizer.train(gen(), { vocabSize: 700 })).toHuggingFace();
    expect(b).toBe(a);
    expect(c).toBe(a);
    for (const pattern of ['cl100k', 'o200k'] as const) {
      const t = await Tokenizer.train(lines, { vocabSize: 600, pattern });
      const text = brown.slice(0, 3000);
      expect(t.decode(t.encode(text))).toBe(text);
      const theirs = hf.Tokenizer.fromString(t.toHuggingFace());
      expect(Array.from(t.encodeOrdinary(text))).toEqual((await theirs.encode(text, null, { addSpecialTokens: false })).getIds());
    }
  });

  it('stops at minFrequency, reports progress, and can be aborted', async () => {
    const seen: [number, number][] = [];
    const tok = await Tokenizer.train([brown], { vocabSize: 5000, minFrequency: 50, onProgress: (d, t) => seen.push([d, t]) });
    const merges = (JSON.parse(tok.toHuggingFace()) as Model).model.merges.length;
    expect(tok.vocabSize).toBeLessThan(5000);
    expect(seen.at(-1)).toEqual([merges, 5000 - 256]);
    for (let i = 1; i < seen.length; i++) expect(seen[i]![0]).toBeGreaterThanOrEqual(seen[i - 1]![0]);
    const ac = new AbortController();
    ac.abort();
    await expect(Tokenizer.train([brown], { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('never makes a token longer than 255 bytes (the encoder limit), even from long repeats', async () => {
    const texts = Array.from({ length: 20 }, () => '='.repeat(3000) + '\n');
    const tok = await Tokenizer.train(texts, { vocabSize: 400 });
    for (let id = 0; id < tok.vocabSize; id++) expect(tok.idToBytes(id)!.length).toBeLessThanOrEqual(255);
    expect(tok.decode(tok.encode(texts[0]!))).toBe(texts[0]);
  });

  it('rejects what it does not do, clearly', async () => {
    await expect(Tokenizer.train([brown], { mode: 'bits' as 'bpe' })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
    await expect(Tokenizer.train([brown], { pattern: 'llama' as 'gpt2' })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
    await expect(Tokenizer.train([brown], { pattern: 'none', mode: 'superbpe' })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION', message: /pattern 'none'/ });
    await expect(Tokenizer.train([brown], { vocabSize: 0 })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
    await expect(Tokenizer.train([brown], { specialTokens: ['a', 'a'] })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
    await expect(Tokenizer.train([1 as unknown as string])).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_ARGUMENT' });
    await expect(Tokenizer.train('text' as unknown as string[])).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_ARGUMENT' });
    expectCode(() => Tokenizer.fromEncoding('cl100k_base').toHuggingFace(), RangeError, 'ERR_LLMK_UNSUPPORTED');
  });
});

describe("Tokenizer.train mode 'bytes' (Binary BPE)", () => {
  const elf = ['/usr/bin/ls', '/usr/bin/cat', '/usr/bin/cp', '/usr/bin/grep', '/usr/bin/sort'].filter((f) => existsSync(f));

  it('trains on the machine\'s ELF executables; a smaller vocabulary is a prefix of a larger one', async () => {
    expect(elf.length).toBeGreaterThan(2);
    const big = await Tokenizer.train({ files: elf }, { mode: 'bytes', vocabSize: 1500 });
    const small = await Tokenizer.train({ files: elf }, { mode: 'bytes', vocabSize: 700 });
    const m = (t: Tokenizer) => (JSON.parse(t.toHuggingFace()) as Model).model.merges;
    expect(m(small).length).toBe(700 - 256);
    expect(m(big).slice(0, m(small).length)).toEqual(m(small));
    // Initial symbols are the 256 bytes in byte order; no token is longer than maxTokenBytes (16).
    for (let b = 0; b < 256; b++) expect(big.idToBytes(b)).toEqual(Uint8Array.of(b));
    let longest = 0;
    for (let id = 0; id < big.vocabSize; id++) longest = Math.max(longest, big.idToBytes(id)!.length);
    expect(longest).toBeLessThanOrEqual(16);
    // Any bytes round-trip, invalid UTF-8 included, and compress.
    const bin = new Uint8Array(readFileSync(elf[0]!));
    const ids = big.encodeOrdinary(bin);
    expect(Buffer.from(big.decodeBytes(ids)).equals(Buffer.from(bin))).toBe(true);
    expect(ids.length).toBeLessThan(bin.length / 2);
    // The same chunks given as arrays train the same model.
    const chunks = elf.flatMap((f) => {
      const b = new Uint8Array(readFileSync(f));
      return Array.from({ length: Math.ceil(b.length / 8192) }, (_, i) => b.subarray(i * 8192, (i + 1) * 8192));
    });
    expect((await Tokenizer.train(chunks, { mode: 'bytes', vocabSize: 700 })).toHuggingFace()).toBe(small.toHuggingFace());
    // tokenizers reads the file (ByteLevel without its regex) and encodes valid UTF-8 the same way.
    const theirs = hf.Tokenizer.fromString(big.toHuggingFace());
    const text = 'GLIBC_2.34 __cxa_finalize /usr/lib/x86_64-linux-gnu .note.gnu.property';
    expect(Array.from(big.encodeOrdinary(new TextEncoder().encode(text)))).toEqual((await theirs.encode(text, null, { addSpecialTokens: false })).getIds());
  });

  it('gives the merges of a naive reference trainer (recount every pair, merge the best everywhere)', async () => {
    const bin = new Uint8Array(readFileSync(elf[0]!)).subarray(4096, 4096 + 12000);
    const chunks = [bin.subarray(0, 6000), bin.subarray(6000)];
    const tok = await Tokenizer.train(chunks, { mode: 'bytes', vocabSize: 500, maxTokenBytes: 6, chunkBytes: 6000 });
    // The reference: ids 0..255 are the bytes; each step takes the most frequent pair whose
    // token would fit (ties: smallest (left, right)), merges it left to right everywhere.
    const bytes: number[][] = Array.from({ length: 256 }, (_, b) => [b]);
    const words = chunks.map((c) => Array.from(c));
    const want: [number, number][] = [];
    while (bytes.length < 500) {
      const counts = new Map<number, number>();
      for (const w of words)
        for (let i = 0; i + 1 < w.length; i++)
          if (bytes[w[i]!]!.length + bytes[w[i + 1]!]!.length <= 6) counts.set(w[i]! * 65536 + w[i + 1]!, (counts.get(w[i]! * 65536 + w[i + 1]!) ?? 0) + 1);
      let best = -1;
      let bestCount = 0;
      for (const [k, c] of counts) if (c > bestCount || (c === bestCount && k < best)) [best, bestCount] = [k, c];
      if (best < 0) break;
      const [a, b] = [Math.floor(best / 65536), best % 65536];
      want.push([a, b]);
      const id = bytes.length;
      bytes.push([...bytes[a]!, ...bytes[b]!]);
      for (let j = 0; j < words.length; j++) words[j] = mergePair(words[j]!, a, b, id);
    }
    const got = (JSON.parse(tok.toHuggingFace()) as Model).model.merges.map(([l, r]) => [tok.tokenToId(byteLevelToBytes(l)!), tok.tokenToId(byteLevelToBytes(r)!)]);
    expect(got).toEqual(want);
  });

  it('honours maxTokenBytes and chunkBytes, and wants bytes', async () => {
    const tok = await Tokenizer.train({ files: elf.slice(0, 2) }, { mode: 'bytes', vocabSize: 600, maxTokenBytes: 4, chunkBytes: 1024 });
    for (let id = 0; id < tok.vocabSize; id++) expect(tok.idToBytes(id)!.length).toBeLessThanOrEqual(4);
    await expect(Tokenizer.train(['text'], { mode: 'bytes' })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_ARGUMENT' });
    await expect(Tokenizer.train([brown], { maxTokenBytes: 8 })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
  });
});

describe("Tokenizer.train mode 'superbpe'", () => {
  it('is plain BPE up to the transition, then merges across spaces within the limits; tokenizers encodes it the same', async () => {
    const train = brown.slice(0, 250000);
    const heldOut = brown.slice(250000);
    const sup = await Tokenizer.train([train], { mode: 'superbpe', vocabSize: 3000, transition: 1500 });
    const bpe = await Tokenizer.train([train], { vocabSize: 3000 });
    const stage1 = await Tokenizer.train([train], { vocabSize: 1500 });
    const merges = (t: Tokenizer) => (JSON.parse(t.toHuggingFace()) as Model).model.merges;
    expect(merges(sup).slice(0, 1500 - 256)).toEqual(merges(stage1));
    expect(sup.vocabSize).toBe(3000);
    let multiword = 0;
    for (let id = 0; id < sup.vocabSize; id++) {
      const text = Buffer.from(sup.idToBytes(id)!).toString('latin1');
      expect(text.includes(': '), JSON.stringify(text)).toBe(false);
      expect((text.match(/\S+/g) ?? []).length).toBeLessThanOrEqual(4);
      if (/\S\s+\S/.test(text)) multiword++;
    }
    expect(multiword).toBeGreaterThan(100);
    const ids = sup.encodeOrdinary(heldOut);
    expect(sup.decode(ids)).toBe(heldOut);
    expect(ids.length).toBeLessThan(bpe.encodeOrdinary(heldOut).length);
    const theirs = hf.Tokenizer.fromString(sup.toHuggingFace());
    expect(Array.from(sup.encodeOrdinary(heldOut.slice(0, 20000)))).toEqual((await theirs.encode(heldOut.slice(0, 20000), null, { addSpecialTokens: false })).getIds());
  });

  it('with transition === vocabSize equals mode bpe exactly', async () => {
    const text = brown.slice(0, 100000);
    const a = await Tokenizer.train([text], { mode: 'superbpe', vocabSize: 800, transition: 800 });
    const b = await Tokenizer.train([text], { vocabSize: 800 });
    expect(a.toHuggingFace()).toBe(b.toHuggingFace());
    await expect(Tokenizer.train([text], { transition: 400 })).rejects.toMatchObject({ code: 'ERR_LLMK_BAD_OPTION' });
  });
});
