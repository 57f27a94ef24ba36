import { describe, expect, it } from 'vitest';
import { kv, KvEncoder } from 'llm-kernels';
import { syntheticKeys, syntheticValues } from '../bench/kv-data.js';
import { toHalfBits } from '../lib/kv/reference.js';
import { expectCode, freshSeed, rng, sameBytes } from './helpers.js';

/** Tokens [from, to) of a [heads, tokens, dim] tensor, as [heads, to - from, dim]. */
function tokenSlice<T extends Float32Array | Uint16Array>(data: T, heads: number, tokens: number, dim: number, from: number, to: number): T {
  const out = new (data.constructor as new (n: number) => T)(heads * (to - from) * dim);
  for (let h = 0; h < heads; h++) out.set(data.subarray((h * tokens + from) * dim, (h * tokens + to) * dim), h * (to - from) * dim);
  return out;
}

describe('KvEncoder: streaming append', () => {
  const settings = [
    { dtype: 'f32' as const },
    { dtype: 'bf16' as const },
    { dtype: 'f32' as const, mode: 'lossy' as const, bits: 4, kind: 'key' as const },
    { dtype: 'f16' as const, mode: 'lossy' as const, maxError: 0.02 },
    { dtype: 'bf16' as const, mode: 'lossy' as const, bits: 3, entropy: false },
  ];

  it.each(settings)('appending in random chunks gives the bytes kv.encode gives for the whole tensor (%o)', (s) => {
    const seed = freshSeed('KvEncoder chunks');
    const r = rng(seed);
    const [heads, tokens, dim] = [3, 150, 16];
    const f32 = s.mode ? syntheticValues(1, heads, tokens, dim, seed) : syntheticKeys(1, heads, tokens, dim, seed);
    const data = s.dtype === 'f32' ? f32 : toHalfBits(f32, s.dtype);
    const enc = new KvEncoder({ kvHeads: heads, headDim: dim, tileTokens: 32, ...s });
    let done = 0;
    while (done < tokens) {
      const n = Math.min(tokens - done, r() % 3 === 0 ? 1 : r() % 40);
      enc.append(tokenSlice(data, heads, tokens, dim, done, done + n));
      done += n;
      expect(enc.tokens).toBe(done);
      // A stream taken at any moment decodes to what has arrived so far.
      if (r() % 4 === 0) {
        const now = kv.decode(enc.bytes());
        expect(now.shape).toEqual([heads, done, dim]);
        const whole = kv.decode(kv.encode(tokenSlice(data, heads, tokens, dim, 0, done), { shape: [heads, done, dim], tileTokens: 32, ...s }));
        expect(sameBytes(now.data, whole.data)).toBe(true);
      }
    }
    const bytes = enc.bytes();
    expect(sameBytes(bytes, kv.encode(data, { shape: [heads, tokens, dim], tileTokens: 32, ...s }))).toBe(true);
    const full = kv.decode(bytes).data;
    for (const n of [0, 1, 31, 32, 33, 100, 150]) {
      expect(sameBytes(kv.decode(bytes, { tokens: n }).data, tokenSlice(full, heads, tokens, dim, 0, n))).toBe(true);
    }
  });

  it('checks its options and each chunk', () => {
    expectCode(() => new KvEncoder({ kvHeads: 0, headDim: 4 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => new KvEncoder({ kvHeads: 2, headDim: 4, mode: 'lossy' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    const enc = new KvEncoder({ kvHeads: 2, headDim: 4 });
    expectCode(() => enc.append(new Float32Array(7)), RangeError, 'ERR_LLMK_BAD_SHAPE');
    expectCode(() => enc.append(new Uint16Array(8)), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
    enc.append(new Float32Array(0));
    expect(enc.tokens).toBe(0);
    expect(kv.decode(enc.bytes()).shape).toEqual([2, 0, 4]);
  });
});
