import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { kv, type KvDType } from 'llm-kernels';
import { quantizeReference, toFloat64, toHalfBits } from '../lib/kv/reference.js';
import { syntheticKeys, syntheticValues } from '../bench/kv-data.js';
import { plainBits } from '../bench/kv.js';
import { expectCode, freshSeed, sameBytes } from './helpers.js';
import { randomF32Bits, randomSmooth, randomU16Bits, realOf } from './kv-data.js';

const halfTypes = ['f16', 'bf16'] as const;

function asDType(f32: Float32Array, dtype: KvDType): Float32Array | Uint16Array {
  return dtype === 'f32' ? f32 : toHalfBits(f32, dtype);
}

describe('kv lossless', () => {
  it('is bit-exact on random bit patterns of every dtype (NaN payloads, +-0, infinities, subnormals)', () => {
    const seed = freshSeed('kv lossless random');
    for (const [heads, tokens, dim, tileTokens] of [[1, 1, 1, 256], [2, 300, 32, 256], [3, 17, 5, 4], [1, 0, 8, 256]] as const) {
      const n = heads * tokens * dim;
      const f32 = randomF32Bits(n, seed + n);
      const bytes = kv.encode(f32, { shape: [heads, tokens, dim], tileTokens });
      const out = kv.decode(bytes);
      expect(sameBytes(out.data, f32)).toBe(true);
      expect(out).toMatchObject({ shape: [heads, tokens, dim], dtype: 'f32', mode: 'lossless' });
      for (const dtype of halfTypes) {
        const h = randomU16Bits(n, seed + n + 1);
        const d = kv.decode(kv.encode(h, { shape: [heads, tokens, dim], dtype, tileTokens }));
        expect(d.dtype).toBe(dtype);
        expect(d.data).toBeInstanceOf(Uint16Array);
        expect(sameBytes(d.data, h)).toBe(true);
      }
    }
  });

  it('is bit-exact on the real tensors and compresses bf16 >= 1.4x and f16 >= 1.1x', () => {
    let bits = { f32: 0, f16: 0, bf16: 0 };
    let elements = 0;
    for (const t of [...realOf('key'), ...realOf('value')]) {
      elements += t.data.length;
      for (const dtype of ['f32', 'f16', 'bf16'] as const) {
        const data = asDType(t.data, dtype);
        const bytes = kv.encode(data, { shape: t.shape, dtype });
        expect(sameBytes(kv.decode(bytes).data, data)).toBe(true);
        bits[dtype] += bytes.length * 8;
      }
    }
    expect(16 / (bits.bf16 / elements)).toBeGreaterThanOrEqual(1.4);
    expect(16 / (bits.f16 / elements)).toBeGreaterThanOrEqual(1.1);
    expect(32 / (bits.f32 / elements)).toBeGreaterThan(1.1);
  });

  it('handles rank-4 tensors, odd tile sizes, partial decodes and threads', async () => {
    const data = syntheticKeys(2, 3, 200, 16);
    const bytes = kv.encode(data, { shape: [2, 3, 200, 16], tileTokens: 64, threads: 2 });
    expect(sameBytes(bytes, kv.encode(data, { shape: [2, 3, 200, 16], tileTokens: 64 }))).toBe(true);
    expect(sameBytes(await kv.encodeAsync(data, { shape: [2, 3, 200, 16], tileTokens: 64 }), bytes)).toBe(true);
    const full = kv.decode(bytes, { threads: 2 });
    expect(full.shape).toEqual([2, 3, 200, 16]);
    expect(sameBytes(full.data, data)).toBe(true);
    expect(sameBytes((await kv.decodeAsync(bytes)).data, data)).toBe(true);
    for (const n of [0, 1, 63, 64, 65, 199, 200]) {
      const part = kv.decode(bytes, { tokens: n });
      expect(part.shape).toEqual([2, 3, n, 16]);
      const want = new Float32Array(2 * 3 * n * 16);
      for (let lh = 0; lh < 6; lh++) want.set(data.subarray(lh * 200 * 16, lh * 200 * 16 + n * 16), lh * n * 16);
      expect(sameBytes(part.data, want)).toBe(true);
    }
  });
});

describe('kv lossy', () => {
  const modes = [{ bits: 2 }, { bits: 3 }, { bits: 4 }, { bits: 8 }, { maxError: 0.05 }, { maxError: 1e-3 }] as const;

  it.each(['key', 'value'] as const)('decodes exactly what the float64 reference says, kind %s, every dtype and setting', (kind) => {
    const seed = freshSeed(`kv lossy ${kind}`);
    const shape = [2, 300, 24];
    const f32 = randomSmooth(2 * 300 * 24, seed, 3);
    f32[7] = NaN;      // a raw row
    f32[100] = 1e30;   // a huge range: codes beyond 2^30 in maxError mode
    for (const dtype of ['f32', 'f16', 'bf16'] as const) {
      const data = asDType(f32, dtype);
      const x = toFloat64(data, dtype);
      for (const [m, entropy] of modes.flatMap((m) => [[m, true], [m, false]] as const)) {
        const opts = { kind, dtype, tileTokens: 128, ...m };
        const out = kv.decode(kv.encode(data, { shape, mode: 'lossy', entropy, ...opts }));
        const got = toFloat64(out.data, dtype);
        const ref = quantizeReference(data, shape, opts);
        expect(ref.rawRows).toBeGreaterThan(0);
        for (let i = 0; i < got.length; i++) {
          if (Number.isNaN(x[i])) {
            expect(Number.isNaN(got[i])).toBe(true);
            continue;
          }
          if (!Object.is(got[i], ref.decoded[i])) expect.fail(`${dtype} ${JSON.stringify(m)} entropy ${entropy} element ${i}: got ${got[i]}, reference ${ref.decoded[i]} (input ${x[i]})`);
          if ('maxError' in m && got[i] !== x[i] && !(Math.abs(got[i]! - x[i]!) <= m.maxError)) expect.fail(`element ${i} breaks maxError`);
        }
      }
    }
  });

  it('keeps every element within maxError on the real tensors, any kind; keys cost less than plain quantization', () => {
    for (const kind of ['key', 'value'] as const) {
      const tensors = realOf(kind);
      const eps = 0.05;
      let bits = 0;
      let n = 0;
      for (const t of tensors) {
        for (const k of [kind, undefined]) {
          const bytes = kv.encode(t.data, { shape: t.shape, mode: 'lossy', maxError: eps, kind: k });
          const d = kv.decode(bytes);
          expect(d.kind).toBe(k ?? 'auto');
          let worst = 0;
          for (let i = 0; i < t.data.length; i++) worst = Math.max(worst, Math.abs(d.data[i]! - t.data[i]!));
          expect(worst).toBeLessThanOrEqual(eps);
          if (k) {
            bits += bytes.length * 8;
            n += t.data.length;
          }
        }
      }
      // Plain quantization at eps needs log2(range / 2eps + 1) bits for each row.
      const plain = plainBits(tensors, kind, eps);
      // Keys: the coder beats plain per-channel quantization. Values: within a few
      // percent of plain per-token quantization (see BENCHMARKS.md for why).
      expect(bits / n).toBeLessThan((kind === 'key' ? 1 : 1.1) * plain);
    }
  });

  it('bits: 4 costs at most 4 bits per element on the real tensors (kind chosen by cost), all metadata included', () => {
    for (const kind of ['key', 'value'] as const) {
      let bits = 0, n = 0;
      for (const t of realOf(kind)) {
        bits += kv.encode(t.data, { shape: t.shape, mode: 'lossy', bits: 4 }).length * 8;
        n += t.data.length;
      }
      expect(bits / n).toBeLessThanOrEqual(4);
    }
  });

  it('is at least 5x smaller than f16 at bits: 4 on synthetic head_dim-128 caches (kind chosen by cost)', () => {
    const keys = syntheticKeys(1, 2, 512, 128);
    const values = syntheticValues(1, 2, 512, 128);
    for (const [kind, data] of [['key', keys], ['value', values]] as const) {
      const bytes = kv.encode(data, { shape: [2, 512, 128], mode: 'lossy', bits: 4 });
      expect((data.length * 16) / (bytes.length * 8), kind).toBeGreaterThanOrEqual(5);
    }
  });
});

describe('kv lossy, entropy: false (packed codes)', () => {
  it('decodes the values the coded stream decodes, kind for kind, at about the width of the codes', () => {
    for (const kind of ['key', 'value'] as const) {
      for (const t of realOf(kind).slice(0, 4)) {
        for (const m of [{ bits: 4 }, { bits: 3 }, { maxError: 0.05 }] as const) {
          const opts = { shape: t.shape, mode: 'lossy', kind, ...m } as const;
          const packed = kv.encode(t.data, { ...opts, entropy: false });
          expect(kv.inspect(packed).entropy).toBe(false);
          expect(kv.inspect(kv.encode(t.data, opts)).entropy).toBe(true);
          expect(sameBytes(kv.decode(packed).data, kv.decode(kv.encode(t.data, opts)).data), `${kind} ${JSON.stringify(m)}`).toBe(true);
          // bits: n costs n bits an element (n + 1 where a row's codes span 2^n values)
          // plus each row's base and step.
          if ('bits' in m) expect(kv.inspect(packed).bitsPerElement, `${kind} ${m.bits}`).toBeLessThan(m.bits + 1);
        }
      }
    }
  });

  it('packs at the width the codes need, not the width of bits', () => {
    // 0.5 and 15.5 with step 1: codes 0 and 16 (ties to even), a span of 17 values at bits: 4.
    const wide = new Float32Array([0.5, 15.5, 3, 7]);
    const still = new Float32Array(64).fill(1.25);  // one code: no bits at all
    for (const [data, shape] of [[wide, [1, 4, 1]], [still, [1, 8, 8]]] as const) {
      const opts = { shape, mode: 'lossy', bits: 4, kind: 'key' } as const;
      const packed = kv.decode(kv.encode(data, { ...opts, entropy: false })).data;
      expect(sameBytes(packed, kv.decode(kv.encode(data, opts)).data)).toBe(true);
      expect(Array.from(packed)).toEqual(Array.from(quantizeReference(data, shape, { kind: 'key', bits: 4, dtype: 'f32', tileTokens: 256 }).decoded));
    }
    expect(Array.from(kv.decode(kv.encode(wide, { shape: [1, 4, 1], mode: 'lossy', bits: 4, kind: 'key', entropy: false })).data)).toEqual([0, 16, 3, 7]);
  });

  it('works with the kind chosen by cost, partial decodes, threads and KvEncoder-sized tiles', async () => {
    const data = syntheticValues(1, 2, 300, 64);
    const shape = [2, 300, 64];
    const bytes = kv.encode(data, { shape, mode: 'lossy', bits: 4, entropy: false, tileTokens: 128 });
    const whole = kv.decode(bytes);
    expect(whole.kind).toBe('auto');
    const first = kv.decode(bytes, { tokens: 130, threads: 2 });
    for (let h = 0; h < 2; h++)
      expect(sameBytes(first.data.subarray(h * 130 * 64, (h + 1) * 130 * 64), whole.data.subarray(h * 300 * 64, (h * 300 + 130) * 64))).toBe(true);
    expect(sameBytes(await kv.encodeAsync(data, { shape, mode: 'lossy', bits: 4, entropy: false, tileTokens: 128, threads: 2 }), bytes)).toBe(true);
    let worst = 0;
    for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(whole.data[i]! - data[i]!));
    expect(worst).toBeGreaterThan(0);
  });
});

describe('kv.inspect and argument checks', () => {
  it('reports header facts and bits per element', () => {
    const data = syntheticValues(1, 2, 100, 32);
    const bytes = kv.encode(data, { shape: [2, 100, 32], mode: 'lossy', bits: 3, kind: 'value', tileTokens: 32 });
    const i = kv.inspect(bytes);
    expect(i).toMatchObject({ version: 1, dtype: 'f32', mode: 'lossy', kind: 'value', bits: 3, maxError: 0, entropy: true, shape: [2, 100, 32], tileTokens: 32, tiles: 8, bytes: bytes.length, elements: 6400 });
    expect(i.bitsPerElement).toBeCloseTo((bytes.length * 8) / 6400, 12);
    expect(i.ratio).toBeCloseTo((6400 * 4) / bytes.length, 12);
  });

  it('rejects bad options, shapes and data with coded errors', () => {
    const data = new Float32Array(2 * 3 * 4);
    const shape = [2, 3, 4];
    expectCode(() => kv.encode(data, { shape: [2, 3] }), TypeError, 'ERR_LLMK_BAD_SHAPE');
    expectCode(() => kv.encode(data, { shape: [2, 3, 5] }), RangeError, 'ERR_LLMK_BAD_SHAPE');
    // eslint-disable-next-line no-sparse-arrays
    expectCode(() => kv.encode(data, { shape: [2, , 4] as never }), RangeError, 'ERR_LLMK_BAD_OPTION', /shape\[1\]/); // a hole is no size
    expectCode(() => kv.encode(data, { shape: [2, 3, 0] }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(new Uint16Array(24), { shape }), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
    expectCode(() => kv.encode(data, { shape, dtype: 'bf16' }), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
    expectCode(() => kv.encode(data, { shape, mode: 'lossy' }), RangeError, 'ERR_LLMK_BAD_OPTION', /exactly one of bits or maxError/);
    expectCode(() => kv.encode(data, { shape, mode: 'lossy', bits: 5 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, mode: 'lossy', bits: 4, maxError: 1 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, mode: 'lossy', maxError: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, mode: 'lossy', maxError: NaN }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, bits: 4 }), RangeError, 'ERR_LLMK_BAD_OPTION', /lossy/);
    expectCode(() => kv.encode(data, { shape, kind: 'query' as 'key' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, tileTokens: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.encode(data, { shape, entropy: false }), RangeError, 'ERR_LLMK_BAD_OPTION', /lossy/);
    expectCode(() => kv.encode(data, { shape, mode: 'lossy', bits: 4, entropy: 0 as unknown as boolean }), TypeError, 'ERR_LLMK_BAD_OPTION', /entropy/);
    const bytes = kv.encode(data, { shape });
    expectCode(() => kv.decode(bytes, { tokens: 4 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => kv.decode([1, 2, 3] as unknown as Uint8Array), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
  });

  it('aborts the async forms', async () => {
    const data = syntheticKeys(1, 1, 64, 8);
    const ac = new AbortController();
    ac.abort();
    await expect(kv.encodeAsync(data, { shape: [1, 64, 8], signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.decodeAsync(kv.encode(data, { shape: [1, 64, 8] }), { signal: ac.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });
});

describe('kv code paths', () => {
  it('the AVX2 and portable paths write the same bytes (LLM_KERNELS_SIMD=scalar), on fresh smooth data', () => {
    // Both runs in child processes: the path is chosen once per process.
    const seed = freshSeed('kv simd paths');
    const script = `
      import { createHash } from 'node:crypto';
      import { kv, info } from 'llm-kernels';
      let s = ${seed} >>> 0;
      const r = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
      const shape = [2, 512, 64], n = 2 * 512 * 64, a = new Float32Array(n);
      for (let i = 0, w = 0; i < n; i++) { w = 0.9 * w + r() - 0.5; a[i] = w * (i % 64 === 3 ? 10 : 1); }
      const bf16 = new Uint16Array(a.buffer).filter((_, i) => i % 2 === 1);
      const h = createHash('sha256');
      for (const o of [{ bits: 4, kind: 'key' }, { bits: 4 }, { bits: 2, kind: 'value' }, { maxError: 0.01, kind: 'value' }, { maxError: 0.003 }, { bits: 3, entropy: false }, { bits: 4, kind: 'value', entropy: false }, { bits: 2, entropy: false }, { bits: 8, kind: 'key', entropy: false }, { maxError: 0.01, entropy: false }])
        h.update(kv.encode(a, { shape, mode: 'lossy', ...o }));
      h.update(kv.encode(bf16, { shape, dtype: 'bf16', mode: 'lossy', maxError: 0.02 }));
      h.update(kv.encode(bf16, { shape, dtype: 'bf16' }));
      console.log(info().cpuPath + ' ' + h.digest('hex'));
    `;
    const run = (simd?: string) => {
      const env = { ...process.env };
      if (simd) env.LLM_KERNELS_SIMD = simd;
      else delete env.LLM_KERNELS_SIMD;
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
      expect(r.stderr).toBe('');
      return r.stdout.trim().split(' ');
    };
    const [portablePath, portable] = run('scalar');
    const [path, fast] = run();
    expect(portablePath).toBe('scalar');
    expect(fast).toMatch(/^[0-9a-f]{64}$/);
    expect(fast, `${path} against scalar`).toBe(portable);
  });
});
