/** Shared test helpers: a seeded generator and error matching. */
import { expect } from 'vitest';

/** mulberry32, the seeded generator of the golden data (test/data/bleu/gen.mjs) and of the benchmarks. */
export { mulberry32 as rng } from '../bench/bleu-data.js';
export { gc } from '../bench/harness.js';

/** A fresh seed per run, printed so a failure can be replayed with LLMK_SEED. */
export function freshSeed(label: string): number {
  const seed = process.env.LLMK_SEED ? Number(process.env.LLMK_SEED) : (Date.now() ^ (Math.random() * 0x7fffffff)) >>> 0;
  console.log(`${label}: seed ${seed} (replay with LLMK_SEED=${seed})`);
  return seed;
}

export function expectCode(fn: () => unknown, ctor: ErrorConstructor, code: string, message?: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected an error').toBeInstanceOf(ctor);
  expect((caught as { code?: string }).code).toBe(code);
  if (message) expect((caught as Error).message).toMatch(message);
}

export function closeTo(got: number, want: number, rel = 1e-12): boolean {
  if (got === want) return true;
  return Math.abs(got - want) <= rel * Math.abs(want);
}

/** Byte-for-byte equality of two typed arrays (fast; toEqual walks elements one by one). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

/** Reference BPE step: every (a, b) in the sequence, left to right without overlap, becomes `id`. */
export function mergePair(seq: readonly number[], a: number, b: number, id: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < seq.length;) {
    if (i + 1 < seq.length && seq[i] === a && seq[i + 1] === b) {
      out.push(id);
      i += 2;
    } else out.push(seq[i++]!);
  }
  return out;
}
