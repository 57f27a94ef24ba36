import { describe, expect, it } from 'vitest';
import { KvPrefixStore, kv } from 'llm-kernels';
import { syntheticValues } from '../bench/kv-data.js';
import { expectCode, sameBytes } from './helpers.js';
import { realKv } from './kv-data.js';

function prefixOf(data: Float32Array, lh: number, tokens: number, dim: number, n: number): Float32Array {
  const out = new Float32Array(lh * n * dim);
  for (let i = 0; i < lh; i++) out.set(data.subarray(i * tokens * dim, i * tokens * dim + n * dim), i * n * dim);
  return out;
}

describe('KvPrefixStore', () => {
  it('returns the longest stored prefix in whole blocks, exactly, and counts references', () => {
    const [heads, tokens, dim] = [2, 256, 32];
    const key = realKv().get('p0.layer0.key')!.data as Float32Array;
    const ids = Uint32Array.from({ length: tokens }, (_, i) => (i * 7919) % 2049);
    const store = new KvPrefixStore({ blockTokens: 64, model: 'tiny-llama-brown' });
    expect(store.match(ids)).toEqual({ length: 0, kv: null });

    expect(store.put(ids.subarray(0, 200), { data: prefixOf(key, heads, tokens, dim, 200), shape: [heads, 200, dim], dtype: 'f32' }))
      .toEqual({ blocks: 3, added: 3, shared: 0 });
    expect(store.size).toBe(3);

    // The same first two blocks, then a different third: shared, shared, added.
    const other = ids.slice();
    other[150] = 2048;
    expect(store.put(other, { data: key, shape: [heads, tokens, dim], dtype: 'f32' })).toEqual({ blocks: 4, added: 2, shared: 2 });
    expect(store.size).toBe(5);

    const m = store.match(ids);
    expect(m.length).toBe(192);
    expect(m.kv!.shape).toEqual([heads, 192, dim]);
    expect(sameBytes(m.kv!.data, prefixOf(key, heads, tokens, dim, 192))).toBe(true);

    // One changed token inside block 1 ends the match after block 0; shorter queries match whole blocks only.
    const changed = ids.slice();
    changed[70] = 1;
    expect(store.match(changed).length).toBe(64);
    expect(store.match(ids.subarray(0, 127)).length).toBe(64);
    expect(store.match(Array.from(ids.subarray(0, 128))).length).toBe(128);

    // Release: blocks shared by both sequences survive the first release.
    expect(store.release(ids.subarray(0, 200))).toBe(1);
    expect(store.size).toBe(4);
    expect(store.match(ids).length).toBe(128);
    expect(store.release(other)).toBe(4);
    expect(store.size).toBe(0);
    expect(store.bytes).toBe(0);
    expect(store.match(ids).length).toBe(0);
  });

  it('keys include the model and codec: separate stores do not share, lossy blocks keep their bound', () => {
    const [layers, heads, tokens, dim] = [2, 2, 96, 16];
    const data = syntheticValues(layers, heads, tokens, dim);
    const ids = Uint32Array.from({ length: tokens }, (_, i) => i);
    const store = new KvPrefixStore({ blockTokens: 32, mode: 'lossy', maxError: 0.01, kind: 'value' });
    store.put(ids, { data, shape: [layers, heads, tokens, dim], dtype: 'f32' });
    const m = store.match(ids);
    expect(m.length).toBe(96);
    expect(m.kv!.shape).toEqual([layers, heads, 96, dim]);
    let worst = 0;
    for (let i = 0; i < data.length; i++) worst = Math.max(worst, Math.abs(m.kv!.data[i]! - data[i]!));
    expect(worst).toBeLessThanOrEqual(0.01);
    expect(store.bytes).toBeLessThan(data.length * 4);
    // Each stored block is an ordinary KV stream.
    expect(kv.inspect(kv.encode(data.subarray(0, 32 * dim), { shape: [1, 32, dim] })).tiles).toBe(1);

    expectCode(() => store.put(ids, { data, shape: [layers, heads, tokens, 8], dtype: 'f32' }), RangeError, 'ERR_LLMK_BAD_SHAPE');
    expectCode(() => store.put(ids.subarray(0, 10), { data, shape: [layers, heads, tokens, dim], dtype: 'f32' }), RangeError, 'ERR_LLMK_BAD_SHAPE');
    expectCode(() => store.put([1.5], { data: new Float32Array(4), shape: [1, 1, 4], dtype: 'f32' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    // a hole in a sparse array is no token id (it was read as 0)
    // eslint-disable-next-line no-sparse-arrays
    expectCode(() => store.match([1, , 3] as never), RangeError, 'ERR_LLMK_BAD_OPTION', /tokens\[1\]/);
    expectCode(() => new KvPrefixStore({ blockTokens: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => new KvPrefixStore({ blockTokens: 8, mode: 'lossy' }), RangeError, 'ERR_LLMK_BAD_OPTION');
  });
});
