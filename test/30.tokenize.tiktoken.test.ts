// Parity with tiktoken (its WASM build of the Rust core, the `tiktoken` npm package) on real text
// and on generated hostile and edge-case input, for every built-in encoding.
import { isUtf8 } from 'node:buffer';
import { afterAll, describe, expect, it } from 'vitest';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { Tokenizer, bpeMergeReference } from 'llm-kernels';
import { CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN } from '../lib/tokenize/huggingface.js';
import { freshSeed, rng, sameBytes } from './helpers.js';
import { brown, emails, udhrTexts } from './tokenize-data.js';

const NAMES = ['r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'] as const;
const udhr = udhrTexts();
const mail = emails();
const peers = new Map<string, Tiktoken>();
const peer = (name: string) => peers.get(name) ?? peers.set(name, get_encoding(name as never)).get(name)!;
afterAll(() => peers.forEach((p) => p.free()));

function expectSameIds(name: string, text: string, what: string) {
  const ours = Tokenizer.fromEncoding(name as never).encodeOrdinary(text);
  const theirs = peer(name).encode_ordinary(text);
  if (!sameBytes(ours, theirs)) {
    let i = 0;
    while (i < ours.length && ours[i] === theirs[i]) i++;
    expect.fail(`${name} ${what}: ids differ at ${i} (ours ${ours.length} ids, tiktoken ${theirs.length}); text ${JSON.stringify(text.slice(0, 80))}`);
  }
}

// A pool of characters from every class the patterns distinguish, and ASCII letter
// runs longer than the pre-tokenizer's 8-byte steps.
const POOL = [
  ...'abcXYZ', 'wordsmithing', 'QUICKBROWNFox', 'tHeOrEtIcAl', ..."'sStTmMdD", ...'ſ', ...'éÉßñ', ...'ǅǈ', ...'ʰˆ', ...'中文字', ...'ا', ...'ع', ...'\u0301\u0308', ...'\u093f',
  ...'0129', ...'٣', ...'Ⅻ', ...'½', ' ', ' ', ' ', '\t', '\n', '\r', '\r\n', '\u000b', '\u000c', '\u0085', '\u00a0', '\u2028', '\u3000', '\ufeff',
  ...'.,!?;:-/\\"()[]{}<>@#$%^&*_+=|~`', '😀', '👍🏽', '\ud800', '\udfff', '<|endoftext|>',
];

// A tiktoken pattern as a JavaScript regex: its (?i:...) groups (which Node 20's regexes lack)
// spelled with both cases of each letter.
function jsPattern(pattern: string): RegExp {
  const anyCase = (alts: string) => [...alts].map((c) => (/[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c)).join('');
  return new RegExp(pattern.replace(/\(\?i:([^)]*)\)/g, (_, alts: string) => `(?:${anyCase(alts)})`), 'gu');
}

/**
 * tiktoken's encoding of bytes (CoreBPE::_encode_bytes), spelled out: the longest prefix that is
 * valid UTF-8 split by the pattern, each piece taken whole when it is a token, else merged by
 * bpeMergeReference; then the last piece's ids, with the ids of nothing but spaces, tabs and
 * newlines before them when its first id is such a one, taken back, and their bytes joined with
 * every byte after the prefix as one piece. Also returns the prefix and its ids (for tiktoken).
 */
function encodeBytesReference(tok: Tokenizer, pattern: RegExp, bytes: Uint8Array): { ids: number[]; prefixIds: number[]; prefix: string } {
  let valid = bytes.length;
  while (!isUtf8(bytes.subarray(0, valid))) valid--;
  const rankOf = (b: Uint8Array) => tok.tokenToId(b);
  const pieceIds = (b: Uint8Array) => {
    const whole = rankOf(b);
    return whole !== undefined ? [whole] : bpeMergeReference(b, rankOf);
  };
  const prefix = new TextDecoder().decode(bytes.subarray(0, valid));
  const ids: number[] = [];
  let last = 0;
  for (const piece of prefix.match(pattern) ?? []) {
    const p = pieceIds(new TextEncoder().encode(piece));
    ids.push(...p);
    last = p.length;
  }
  const prefixIds = [...ids];
  if (valid === bytes.length) return { ids, prefixIds, prefix };
  const allSpace = (id: number) => [...tok.idToBytes(id)!].every((b) => b === 0x20 || b === 0x0a || b === 0x09);
  if (last > 0 && allSpace(ids[ids.length - last]!)) while (last < ids.length && allSpace(ids[ids.length - last - 1]!)) last++;
  const taken = ids.splice(ids.length - last).map((id) => [...tok.idToBytes(id)!]);
  const unstable = Uint8Array.from([...taken.flat(), ...bytes.subarray(valid)]);
  if (unstable.length) ids.push(...pieceIds(unstable));
  return { ids, prefixIds, prefix };
}

// Merged pre-tokens of up to 256 bytes are kept, from their second meeting
// on, in a per-thread ring (shared by every encoding, told apart by a
// serial): the same words, met again and under each encoding in turn, must
// come out as tiktoken has them.
describe('pre-tokens met again', () => {
  it('fresh words of 2 to 256 bytes, each several times, under every encoding in turn', () => {
    const r = rng(freshSeed('tokenize long pieces again'));
    const alphabets = ['abcdefghij', 'ab', '中文字词语句', 'абвгдеж', 'กขคงจฉ'];
    const words = Array.from({ length: 40 }, (_, k) => {
      const letters = [...alphabets[k % alphabets.length]];
      const bytes = 2 + (r() % 255);
      let w = letters[r() % letters.length];
      while (Buffer.byteLength(w) + 3 <= bytes) w += letters[r() % letters.length];
      return w;
    });
    let text = '';
    for (let i = 0; i < 300; i++) text += ' ' + words[r() % words.length];
    for (let round = 0; round < 2; round++) for (const name of NAMES) expectSameIds(name, text, `words met again, round ${round}`);
  });
});

describe.each(NAMES)('%s against tiktoken', (name) => {
  it('English prose (Brown corpus)', () => {
    expectSameIds(name, brown, 'brown');
  });

  it('all 532 UDHR languages', () => {
    for (const { code, text } of udhr) expectSameIds(name, text.slice(0, 4000), `udhr ${code}`);
  });

  it('raw email: 100 fixed and 100 freshly drawn messages of the SpamAssassin corpus', () => {
    const r = rng(freshSeed(`tokenize email ${name}`));
    const picks = [...mail.slice(0, 100), ...Array.from({ length: 100 }, () => mail[r() % mail.length])];
    picks.forEach((m, k) => expectSameIds(name, m.slice(0, 20000), `email #${k}`));
  });

  it('fresh random strings over every character class', () => {
    const r = rng(freshSeed(`tokenize fuzz ${name}`));
    for (let k = 0; k < 400; k++) {
      let s = '';
      for (let n = r() % 40; n > 0; n--) s += POOL[r() % POOL.length].repeat(r() % 7 === 0 ? 1 + (r() % 5) : 1);
      expectSameIds(name, s, `random #${k}`);
    }
  });

  it('long pre-tokens (the heap merge path): fresh random words of 129 to 3000 letters', () => {
    const r = rng(freshSeed(`tokenize long pieces ${name}`));
    const alphabets = ['abcdefghijklmnopqrstuvwxyz', 'ab', 'aeiou', 'éàüñßøå', '中文字词语句', 'абвгдеж'];
    for (let k = 0; k < 12; k++) {
      const letters = [...alphabets[k % alphabets.length]];
      const len = 129 + (r() % 2900);
      let s = ' ';
      for (let i = 0; i < len; i++) s += letters[r() % letters.length];
      expectSameIds(name, s, `long word #${k} (${len} letters)`);
    }
  });

  it('edge cases: repetitions, contractions in any case, digits, CRLF, trailing spaces, lone surrogates', () => {
    const cases = [
      '', 'a', ' ', '  ', '\n', '\n\n', ' \n', '\n ', 'a ', 'a  ', 'a   b', ' a', '  a', '\t\tx', 'x\t\t',
      "I'm", "I'M", "you'RE", "we'Ve", "it'S", "it'ſ", "they'LL", "he'D", "'s", "''s", "'", "a'", "don't", "DON'T",
      '1', '12', '123', '1234', '12345678901', '3.14159', '1,000,000', '٣٤٥٦', 'abc123def', ' 123',
      'a\r\nb', 'a\r\n\r\nb', '\r\n', 'line\n\n\nline', '  \n  x', 'x  \n', 'x \u0085 y', 'x\ufeffy', '\ufeff', 'a\u00a0b',
      'hello\ud800world', '\udfff', 'é'.normalize('NFD'), 'HelloWorld', 'HELLOworld', 'helloWORLD', 'ǅungla', 'ʰello',
      'path/to/file', 'a//b\n/c', 'x!!!\n\n', '@@ -1,2 +1,3 @@', '    def f(x):\n        return x', '😀😀😀', 'a😀b',
      ...[1, 2, 3, 10, 100, 1000, 5000].flatMap((n) => ['a'.repeat(n), ' '.repeat(n), '\n'.repeat(n), 'ab'.repeat(n), '1'.repeat(n), '!'.repeat(n)]),
      // Pre-tokens on either side of the merge's size classes (64 and 128 bytes: rescanned; longer: a heap).
      ...[21, 22, 42, 43, 63, 64, 65, 127, 128, 129].flatMap((n) => ['x'.repeat(n), 'é'.repeat(n), '中文'.repeat(n).slice(0, n), 'ab'.repeat(n).slice(0, n)]),
    ];
    for (const c of cases) expectSameIds(name, c, `case ${JSON.stringify(c.slice(0, 20))}`);
  });

  it('special tokens: allowed, disallowed and ordinary, as tiktoken', () => {
    const tok = Tokenizer.fromEncoding(name);
    const p = peer(name);
    // Near misses of the tokens' shared prefix '<|' before, between and after them.
    for (const text of ['a<|endoftext|>b <|endoftext|><|endoftext|> c', '<|<|endof <|endoftext|>x<|fim_prefix|<|fim_prefix|>|><|', '<<||<|endoftext|']) {
      expect([...tok.encode(text, { allowedSpecial: 'all' })]).toEqual([...p.encode(text, 'all')]);
      expect([...tok.encode(text, { allowedSpecial: ['<|endoftext|>'], disallowedSpecial: [] })]).toEqual([...p.encode(text, ['<|endoftext|>'], [])]);
      expect([...tok.encode(text, { disallowedSpecial: [] })]).toEqual([...p.encode(text, [], [])]);
      expect([...tok.encodeOrdinary(text)]).toEqual([...p.encode_ordinary(text)]);
      expect(tok.count(text, { allowedSpecial: 'all' })).toBe(p.encode(text, 'all').length);
    }
    const text = 'a<|endoftext|>b <|endoftext|><|endoftext|> c';
    expect(() => tok.encode(text)).toThrow(expect.objectContaining({ code: 'ERR_LLMK_DISALLOWED_SPECIAL' }));
    expect(() => p.encode(text)).toThrow();
    expect(() => tok.encode('<|endof <|endoftext')).not.toThrow();
    for (const [special, id] of Object.entries(tok.specialTokens)) expect(tok.encode(special, { allowedSpecial: 'all' })[0]).toBe(id);
  });

  it("raw bytes that are not UTF-8: tiktoken's rule for bytes, against its reference; special tokens in bytes", () => {
    const tok = Tokenizer.fromEncoding(name);
    const p = peer(name);
    const pattern = jsPattern(name === 'cl100k_base' ? CL100K_PATTERN : name === 'o200k_base' ? O200K_PATTERN : GPT2_PATTERN);
    const utf8 = (t: string) => new TextEncoder().encode(t);
    const r = rng(freshSeed(`bytes ${name}`));
    // Characters whose classes JavaScript's regex and tiktoken's Rust regex agree on (not U+0085,
    // U+FEFF, ſ), with runs of whitespace before the bytes that are not UTF-8.
    const text = ['hello', ' world', 'Wörter', ' 中文', '123456', "'s", "'LL", ' ', '  ', '\n', '\n\n', '\t', '\r\n', '!?', ' ...', 'é', '😀', '\u3000', 'ا', 'ʰ', 'ǅ'];
    const broken = [[0xff], [0x80], [0xc3], [0xe4, 0xb8], [0xf0, 0x9f, 0x98], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xfe]];
    // Where the whitespace tokens before the last piece change its merge ('x  ʰ': '  ʰ' as one piece).
    const cases: Uint8Array[] = [Uint8Array.of(0xff), new Uint8Array(0), ...['hello world\n\n  ', 'a \t\n ', 'x  ʰ', 'x \t ǅ', 'x  中文'].map((t) => Uint8Array.of(...utf8(t), 0xff, 0x41))];
    for (let i = 0; i < 250; i++) {
      const parts: number[] = [];
      for (let k = r() % 8; k >= 0; k--) parts.push(...(r() % 4 ? utf8(text[r() % text.length]!) : broken[r() % broken.length]!));
      cases.push(Uint8Array.from(parts));
    }
    const results = cases.map((bytes) => {
      const { ids, prefixIds, prefix } = encodeBytesReference(tok, pattern, bytes);
      expect([...p.encode_ordinary(prefix)], `prefix ${JSON.stringify(prefix)}: the reference's pattern`).toEqual(prefixIds);
      const got = tok.encodeOrdinary(bytes);
      expect([...got], `bytes ${Buffer.from(bytes).toString('hex')}`).toEqual(ids);
      expect(tok.count(bytes)).toBe(ids.length);
      expect(sameBytes(tok.decodeBytes(got), bytes)).toBe(true);
      if (isUtf8(bytes)) expect([...got]).toEqual([...tok.encodeOrdinary(new TextDecoder().decode(bytes))]);
      return ids;
    });
    return tok.encodeBatch(cases, { disallowedSpecial: [] }).then((batch) => {
      expect(batch.map((ids) => [...ids])).toEqual(results);
      // Special tokens are found in bytes too, split where their UTF-8 bytes are; valid UTF-8 splits as its text does.
      const special = tok.specialTokens['<|endoftext|>']!;
      const a = Uint8Array.of(...utf8('x \n'), 0xff, 0x41), b = Uint8Array.of(0xe4, 0xb8, ...utf8(' y'));
      const joined = Uint8Array.of(...a, ...utf8('<|endoftext|>'), ...b);
      expect([...tok.encode(joined, { allowedSpecial: 'all' })]).toEqual([...tok.encodeOrdinary(a), special, ...tok.encodeOrdinary(b)]);
      expect(tok.count(joined, { allowedSpecial: ['<|endoftext|>'] })).toBe(tok.encodeOrdinary(a).length + 1 + tok.encodeOrdinary(b).length);
      expect([...tok.encode(joined, { disallowedSpecial: [] })]).toEqual([...tok.encodeOrdinary(joined)]);
      expect(() => tok.encode(joined)).toThrow(expect.objectContaining({ code: 'ERR_LLMK_DISALLOWED_SPECIAL', token: '<|endoftext|>' }));
      const valid = 'a<|endoftext|>b <|endoftext|><|endoftext|> c';
      expect([...tok.encode(utf8(valid), { allowedSpecial: 'all' })]).toEqual([...tok.encode(valid, { allowedSpecial: 'all' })]);
      expect(() => tok.encode(utf8(valid))).toThrow(expect.objectContaining({ code: 'ERR_LLMK_DISALLOWED_SPECIAL' }));
      return tok.encodeBatch([joined, a], { allowedSpecial: 'all' }).then(([x, y]) => {
        expect([...x!]).toEqual([...tok.encodeOrdinary(a), special, ...tok.encodeOrdinary(b)]);
        expect([...y!]).toEqual([...tok.encodeOrdinary(a)]);
      });
    });
  });

  it('decodes what it encodes, and decodes like tiktoken', () => {
    const tok = Tokenizer.fromEncoding(name);
    for (const { text } of udhr.slice(0, 60)) {
      const ids = tok.encodeOrdinary(text);
      expect(tok.decode(ids)).toBe(text);
      expect(sameBytes(tok.decodeBytes(ids), peer(name).decode(ids))).toBe(true);
    }
    const big = 'a'.repeat(1 << 20);
    expect(tok.decode(tok.encodeOrdinary(big))).toBe(big);
  });
});
