/** Test data for the KV codec: the real tensors of test/data/kv/ and random tensors with edge values. */
import { fileURLToPath } from 'node:url';
import { readSafetensors, type SafetensorsTensor } from 'llm-kernels';
import { rng } from './helpers.js';

export const kvFile = fileURLToPath(new URL('./data/kv/kv_brown.safetensors', import.meta.url));

let cached: Map<string, SafetensorsTensor> | undefined;
/** p{0,1}.layer{0..5}.{key,value,query}: [2 or 4, 256, 32] float32. */
export function realKv(): Map<string, SafetensorsTensor> {
  cached ??= readSafetensors(kvFile).tensors;
  return cached;
}

export function realOf(kind: 'key' | 'value'): { name: string; data: Float32Array; shape: number[] }[] {
  return [...realKv()].filter(([n]) => n.endsWith(`.${kind}`)).map(([name, t]) => ({ name, data: t.data as Float32Array, shape: t.shape }));
}

/** Random float32 bit patterns: NaN payloads, infinities, +-0, subnormals and normal values of every size. */
export function randomF32Bits(n: number, seed: number): Float32Array {
  const r = rng(seed);
  const u = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const pick = r() % 16;
    if (pick === 0) u[i] = r();                                   // any pattern, NaNs included
    else if (pick === 1) u[i] = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00001, 0xffbfffff][r() % 6]!;
    else if (pick === 2) u[i] = (r() & 0x807fffff);               // subnormal
    else u[i] = (r() & 0x80000000) | ((118 + (r() % 20)) << 23) | (r() & 0x7fffff);
  }
  return new Float32Array(u.buffer);
}

export function randomU16Bits(n: number, seed: number): Uint16Array {
  const r = rng(seed);
  return Uint16Array.from({ length: n }, () => r() & 0xffff);
}

/** Smooth-ish float values (no specials) for lossy tests. */
export function randomSmooth(n: number, seed: number, scale = 1): Float32Array {
  const r = rng(seed);
  const out = new Float32Array(n);
  let walk = 0;
  for (let i = 0; i < n; i++) {
    walk = 0.9 * walk + (r() / 2 ** 32 - 0.5);
    out[i] = scale * (walk + (r() % 50 === 0 ? 20 * (r() / 2 ** 32 - 0.5) : 0));
  }
  return out;
}
