import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { info, setBackend, vectorAdd, vectorAddAsync } from 'llm-kernels';
import { expectCode, freshSeed, rng, sameBytes } from './helpers.js';

function randomVectors(n: number, seed: number): [Float32Array, Float32Array, Float32Array] {
  const r = rng(seed);
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a[i] = (r() / 2 ** 32 - 0.5) * 2 ** ((r() % 40) - 20);
    b[i] = (r() / 2 ** 32 - 0.5) * 2 ** ((r() % 40) - 20);
  }
  const ref = new Float32Array(n);
  for (let i = 0; i < n; i++) ref[i] = Math.fround(a[i] + b[i]); // the float64 sum, rounded once: exact IEEE float32 addition
  return [a, b, ref];
}

const cudaBuilt = existsSync(new URL('../build-cuda/Release/llm_kernels.node', import.meta.url));
const backends = ['cpu', ...(cudaBuilt ? ['auto'] : [])] as const;

describe.each(backends)('vectorAdd, backend %s', (backend) => {
  afterAll(() => void setBackend('auto'));

  it('matches the float64 reference bit for bit, sync and async, 1 and many threads', async () => {
    const b = setBackend(backend);
    if (backend === 'auto' && cudaBuilt) expect(b.binary).toBe('cuda-build');
    const seed = freshSeed('vectorAdd');
    for (const n of [0, 1, 7, 8, 9, 65536, 65537, 300001]) {
      const [x, y, ref] = randomVectors(n, seed + n);
      expect(vectorAdd(x, y).length).toBe(n);
      expect(sameBytes(vectorAdd(x, y), ref)).toBe(true);
      expect(sameBytes(vectorAdd(x, y, { threads: 3 }), ref)).toBe(true);
      expect(sameBytes(await vectorAddAsync(x, y), ref)).toBe(true);
      expect(sameBytes(await vectorAddAsync(x, y, { threads: 1 }), ref)).toBe(true);
    }
  });

  it('rejects bad arguments with coded errors', () => {
    setBackend(backend);
    const a = new Float32Array(4);
    expectCode(() => vectorAdd(a, new Float32Array(3)), RangeError, 'ERR_LLMK_BAD_SHAPE', /same length/);
    expectCode(() => vectorAdd(a, new Float64Array(4) as unknown as Float32Array), TypeError, 'ERR_LLMK_BAD_ARGUMENT', /b must be a Float32Array/);
    expectCode(() => vectorAdd(null as unknown as Float32Array, a), TypeError, 'ERR_LLMK_BAD_ARGUMENT', /a must be/);
    expectCode(() => vectorAdd(a, a, { threads: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION', /threads/);
    expectCode(() => vectorAdd(a, a, 5 as unknown as object), TypeError, 'ERR_LLMK_BAD_ARGUMENT', /options/);
  });

  it('aborts a running job and honours an already-aborted signal', async () => {
    setBackend(backend);
    const n = 48 * 1024 * 1024;
    const a = new Float32Array(n).fill(1);
    const ac = new AbortController();
    const p = vectorAddAsync(a, a, { threads: 1, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
    const custom = new Error('stop');
    await expect(vectorAddAsync(a, a, { signal: AbortSignal.abort(custom) })).rejects.toBe(custom);
    // The pool is still healthy afterwards.
    expect((await vectorAddAsync(a.subarray(0, 10), a.subarray(0, 10)))[9]).toBe(2);
  });

  it('does not block the event loop while it runs', async () => {
    setBackend(backend);
    const a = new Float32Array(16 * 1024 * 1024).fill(1);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const p = vectorAddAsync(a, a, { threads: 1 });
    await new Promise((r) => setTimeout(r, 5));
    await p;
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('backend selection', () => {
  afterAll(() => void setBackend('auto'));
  it("'cuda' without a device is a clear error, and 'auto' says why it fell back", () => {
    const i = setBackend('auto');
    if (info().cudaDevices.length > 0) {
      expect(i.backend).toBe('cuda');
      return;
    }
    expect(i.backend).toBe('cpu');
    expect(i.reason).toMatch(/CUDA|cuda/);
    expectCode(() => setBackend('cuda'), Error, 'ERR_LLMK_NO_CUDA_DEVICE', /not available/);
    expectCode(() => setBackend('gpu' as never), TypeError, 'ERR_LLMK_BAD_OPTION');
  });
});
