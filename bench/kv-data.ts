/**
 * Synthetic KV caches with the statistics of real ones, for benchmarks at
 * realistic sizes (the real tensors in test/data/kv/ are small):
 * - keys: a per-channel offset and scale with a few outlier channels (10x),
 *   smooth across tokens before RoPE (an AR(1) process per channel), then
 *   rotated by RoPE (theta 10000) as a cache holds them, so the slowly
 *   rotating channel pairs stay smooth and the fast ones do not;
 * - values: per-token scale, heavy-tailed (Student-t with 4 degrees of
 *   freedom), with the first tokens (attention sinks) 8x larger.
 * Deterministic for a seed (mulberry32).
 */
import { mulberry32 } from './bleu-data.js';

function gaussian(r: () => number): () => number {
  return () => {
    const u = (r() + 1) / 4294967297;
    const v = r() / 4294967296;
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
}

/** [layers, heads, tokens, dim] keys after RoPE. */
export function syntheticKeys(layers: number, heads: number, tokens: number, dim: number, seed = 7): Float32Array {
  const g = gaussian(mulberry32(seed));
  const out = new Float32Array(layers * heads * tokens * dim);
  const pre = new Float64Array(dim);
  for (let lh = 0; lh < layers * heads; lh++) {
    const offset = Float64Array.from({ length: dim }, () => 0.5 * g());
    const scale = Float64Array.from({ length: dim }, (_, d) => (d % 17 === 3 ? 10 : 1) * (0.5 + Math.abs(g())));
    for (let d = 0; d < dim; d++) pre[d] = g();
    for (let t = 0; t < tokens; t++) {
      for (let d = 0; d < dim; d++) pre[d] = 0.95 * pre[d]! + 0.31 * g();
      const base = (lh * tokens + t) * dim;
      for (let i = 0; i < dim / 2; i++) {
        const angle = t * Math.pow(10000, (-2 * i) / dim);
        const c = Math.cos(angle), s = Math.sin(angle);
        const a = offset[i]! + scale[i]! * pre[i]!;
        const b = offset[i + dim / 2]! + scale[i + dim / 2]! * pre[i + dim / 2]!;
        out[base + i] = a * c - b * s;
        out[base + i + dim / 2] = a * s + b * c;
      }
    }
  }
  return out;
}

/** [layers, heads, tokens, dim] values. */
export function syntheticValues(layers: number, heads: number, tokens: number, dim: number, seed = 11): Float32Array {
  const g = gaussian(mulberry32(seed));
  const out = new Float32Array(layers * heads * tokens * dim);
  for (let lh = 0; lh < layers * heads; lh++) {
    for (let t = 0; t < tokens; t++) {
      const tokenScale = (t < 4 ? 8 : 1) * 0.2 * Math.exp(0.3 * g());
      const base = (lh * tokens + t) * dim;
      for (let d = 0; d < dim; d++) {
        // Student-t(4): a normal over the root of a chi-square / 4.
        const chi = (g() ** 2 + g() ** 2 + g() ** 2 + g() ** 2) / 4;
        out[base + d] = (tokenScale * g()) / Math.sqrt(chi);
      }
    }
  }
  return out;
}
