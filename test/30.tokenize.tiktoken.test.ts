// Parity with tiktoken (its WASM build of the Rust core, the `tiktoken` npm package) on real text
// and on generated hostile and edge-case input, for every built-in encoding.
import { afterAll, describe, expect, it } from 'vitest';
import { get_encoding, type Tiktoken } from 'tiktoken';
import { Tokenizer } from 'llm-kernels';
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
