// Writes seed inputs for the libFuzzer targets (scripts/fuzz.sh): small KV
// containers in every codec setting, small encoding files (both versions:
// rank files, and listed merges from a tokenizer.json), and texts (English,
// 40 UDHR languages, tiktoken's edge cases) for the encoders.
// Usage: node test/fuzz/seeds.mjs <dir>  (needs the compiled dist/)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kv } from '../../dist/lib/index.js';
import { toHalfBits } from '../../dist/lib/kv/reference.js';
import { udhrCorpus } from '../../dist/lib/tokenize/premium.js';
import { huggingFaceFiles } from '../../dist/bench/tokenizer-files.js';
import { encodingData } from '../../dist/lib/tokenize/tiktoken-file.js';
import { CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, parseHuggingFace } from '../../dist/lib/tokenize/huggingface.js';

const dir = process.argv[2];
mkdirSync(join(dir, 'kv_decode'), { recursive: true });
mkdirSync(join(dir, 'bpe_load'), { recursive: true });
mkdirSync(join(dir, 'bpe_encode'), { recursive: true });

// KV: [2, 20, 8] tensors (tiles of 16 tokens: a full one and a partial one), keys and values.
let seed = 1;
const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const f32 = Float32Array.from({ length: 2 * 20 * 8 }, (_, i) => random() * (i % 8 === 3 ? 20 : 1));
const settings = [
  { mode: 'lossless' },
  { mode: 'lossy', bits: 4, kind: 'key' },
  { mode: 'lossy', bits: 2, kind: 'value' },
  { mode: 'lossy', bits: 8 },
  { mode: 'lossy', bits: 3, kind: 'key', entropy: false },
  { mode: 'lossy', maxError: 0.05, kind: 'value' },
  { mode: 'lossy', maxError: 0.01, kind: 'key', entropy: false },
];
let n = 0;
for (const [dtype, data] of [['f32', f32], ['f16', toHalfBits(f32, 'f16')], ['bf16', toHalfBits(f32, 'bf16')]])
  for (const s of settings) writeFileSync(join(dir, 'kv_decode', `seed${n++}`), kv.encode(data, { shape: [2, 20, 8], dtype, tileTokens: 16, ...s }));
// Streams of 16384 symbols or more are coded in 32 lanes: a [1, 256, 64] tile of each kind.
const wide = Float32Array.from({ length: 256 * 64 }, () => random());
writeFileSync(join(dir, 'kv_decode', `seed${n++}`), kv.encode(toHalfBits(wide, 'bf16'), { shape: [1, 256, 64], dtype: 'bf16', mode: 'lossless' }));
writeFileSync(join(dir, 'kv_decode', `seed${n++}`), kv.encode(wide, { shape: [1, 256, 64], mode: 'lossy', bits: 4, kind: 'key' }));

// Encodings: the 256 bytes plus a few merged tokens, with a pattern of each family (or none)
// and a special token; and the tiny-llama-brown tokenizer.json's (listed merges, byte fallback).
const ranks = new Map(Array.from({ length: 256 }, (_, b) => [b, Uint8Array.of(b)]));
for (const t of ['th', 'he', ' t', 'in', 'the', ' the', 'er', 'an', '中', 'ï']) ranks.set(ranks.size, new TextEncoder().encode(t));
const patterns = { gpt2: GPT2_PATTERN, cl100k: CL100K_PATTERN, o200k: O200K_PATTERN, whole: '' };
for (const [name, pattern] of Object.entries(patterns)) writeFileSync(join(dir, 'bpe_load', name), encodingData(ranks, pattern, { '<|endoftext|>': ranks.size }));
const json = JSON.parse(readFileSync(new URL('../data/tokenizers/tiny-llama-brown.json', import.meta.url), 'utf8'));
writeFileSync(join(dir, 'bpe_load', 'tiny-llama-brown'), parseHuggingFace(json).data);

// The tokenizer.json models the tests compare, converted for bpe_encode (which reads them
// from <dir>/models): byte-level ones and SentencePiece-style ones, told apart by name.
mkdirSync(join(dir, 'models'), { recursive: true });
for (const [name, text] of huggingFaceFiles()) {
  const hf = parseHuggingFace(JSON.parse(text()));
  const slug = name.split(' ')[0].toLowerCase();
  writeFileSync(join(dir, 'models', `${hf.sentencePiece ? 'sentencepiece' : 'bytelevel'}-${slug}.bin`), hf.data);
}

// Texts, each behind a byte that picks the encoding (r50k, cl100k, o200k, then the models).
const brown = readFileSync(new URL('../data/text/brown-sample.txt', import.meta.url), 'utf8');
const udhr = Object.values(udhrCorpus());
const texts = [
  ...Array.from({ length: 8 }, (_, i) => brown.slice(i * 3000, i * 3000 + 400)),
  ...Array.from({ length: 40 }, (_, i) => udhr[Math.floor((i * udhr.length) / 40)].slice(200, 500)),
  "I'm here. You'RE there; they'll've done it 1234567 times\r\n\r\n   ok  \t\u0085\ufeff x",
  'a'.repeat(300) + ' ' + 'ab'.repeat(100) + ' 0123456789'.repeat(5),
];
texts.forEach((t, i) => writeFileSync(join(dir, 'bpe_encode', `text${i}`), Buffer.concat([Buffer.of(i % 7), Buffer.from(t, 'utf8')])));
writeFileSync(join(dir, 'bpe_encode', 'broken'), Buffer.of(1, 0x68, 0x69, 0x20, 0xe4, 0xb8, 0x20, 0xff, 0x61, 0xf0, 0x9f, 0x98));
console.log(`seeds: ${n} KV containers, ${Object.keys(patterns).length + 1} encodings, ${texts.length + 1} texts, ${huggingFaceFiles().length} models`);
