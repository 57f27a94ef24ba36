// Writes seed inputs for the libFuzzer targets (scripts/fuzz.sh): small KV
// containers in every codec setting, and small encoding files (both versions:
// rank files, and listed merges from a tokenizer.json).
// Usage: node test/fuzz/seeds.mjs <dir>  (needs the compiled dist/)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kv } from '../../dist/lib/index.js';
import { toHalfBits } from '../../dist/lib/kv/reference.js';
import { encodingData } from '../../dist/lib/tokenize/tiktoken-file.js';
import { CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, parseHuggingFace } from '../../dist/lib/tokenize/huggingface.js';

const dir = process.argv[2];
mkdirSync(join(dir, 'kv_decode'), { recursive: true });
mkdirSync(join(dir, 'bpe_load'), { recursive: true });

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
console.log(`seeds: ${n} KV containers, ${Object.keys(patterns).length + 1} encodings`);
