/**
 * KV cache coding on the real tensors of test/data/kv/ (tiny-llama-brown,
 * head_dim 32) and on synthetic caches at a realistic head_dim of 128:
 * bits per element with every byte of metadata counted, the lossless
 * coder against each byte plane's order-0 entropy, the lossy coder against
 * plain quantization at the same maximum error, errors (max/mean/RMS and
 * the relative change of attention outputs computed with the real queries),
 * throughput per core, and zstd (Debian's `zstd`, level 3, one thread) on
 * the same bytes as the general-purpose baseline.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kv, readSafetensors, type KvDType, type KvKind } from 'llm-kernels';
import { packageRoot } from '../lib/native.js';
import { toFloat64, toHalfBits } from '../lib/kv/reference.js';
import { medians, type Row, type Suite } from './harness.js';
import { syntheticKeys, syntheticValues } from './kv-data.js';

type Tensor = { data: Float32Array; shape: number[] };

function realTensors(): Map<string, Tensor> | string {
  const file = [join(packageRoot, 'test', 'data', 'kv', 'kv_brown.safetensors'), join(packageRoot, '..', 'shared', 'data', 'kv', 'kv_brown.safetensors')].find(existsSync);
  if (!file) return 'test/data/kv/kv_brown.safetensors not in this install';
  const out = new Map<string, Tensor>();
  for (const [name, t] of readSafetensors(file).tensors) out.set(name, { data: t.data as Float32Array, shape: t.shape });
  return out;
}

function zstd(bytes: Uint8Array): { ratio: number; compressMBs: number; decompressMBs: number } | string {
  const dir = mkdtempSync(join(tmpdir(), 'llmk-kv-'));
  try {
    const file = join(dir, 'kv.bin');
    writeFileSync(file, bytes);
    const r = spawnSync('zstd', ['-b3', '-i1', '-q', '-T1', file], { encoding: 'utf8' });
    if (r.error || r.status !== 0) return 'zstd not installed (apt-get install zstd)';
    const m = /\(\s*([\d.]+)\)\s+([\d.]+) MB\/s\s+([\d.]+) MB\/s/.exec(r.stdout + r.stderr);
    if (!m) return `unexpected zstd output: ${(r.stdout + r.stderr).trim().slice(-120)}`;
    return { ratio: Number(m[1]), compressMBs: Number(m[2]), decompressMBs: Number(m[3]) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function asBytes(a: Float32Array | Uint16Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function concat(parts: (Float32Array | Uint16Array)[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(asBytes(p), at);
    at += p.byteLength;
  }
  return out;
}

function entropyBytes(values: Uint8Array): number {
  const hist = new Float64Array(256);
  for (const v of values) hist[v]++;
  let bits = 0;
  for (const c of hist) if (c) bits -= c * Math.log2(c / values.length);
  return Math.min(bits / 8, values.length);
}

/** Sum over 256-token tiles and byte planes (the codec's layout) of each plane's order-0 entropy, raw planes capped at 8 bits. */
function planeEntropyBytes(data: Float32Array | Uint16Array, dtype: KvDType, shape: number[], tileTokens = 256): number {
  const [lh, tokens, dim] = shape.length === 4 ? [shape[0]! * shape[1]!, shape[2]!, shape[3]!] : [shape[0]!, shape[1]!, shape[2]!];
  const np = dtype === 'f32' ? 4 : 2;
  // f32 elements as their bits, read through one view rather than a copy per element.
  const bits = data instanceof Float32Array ? new Uint32Array(data.buffer, data.byteOffset, data.length) : data;
  let total = 0;
  for (let h = 0; h < lh; h++)
    for (let t0 = 0; t0 < tokens; t0 += tileTokens) {
      const n = Math.min(tileTokens, tokens - t0) * dim;
      const planes = Array.from({ length: np }, () => new Uint8Array(n));
      const start = (h * tokens + t0) * dim;
      for (let i = 0; i < n; i++) {
        const u = bits[start + i]!;
        if (dtype === 'f32') {
          const b = u;
          planes[0]![i] = (b >>> 23) & 0xff;
          planes[1]![i] = ((b >>> 31) << 7) | ((b >>> 16) & 0x7f);
          planes[2]![i] = (b >>> 8) & 0xff;
          planes[3]![i] = b & 0xff;
        } else if (dtype === 'bf16') {
          planes[0]![i] = (u >> 7) & 0xff;
          planes[1]![i] = ((u >> 15) << 7) | (u & 0x7f);
        } else {
          planes[0]![i] = u >> 8;
          planes[1]![i] = u & 0xff;
        }
      }
      for (const p of planes) total += entropyBytes(p);
    }
  return total;
}

/** Causal attention outputs [heads, tokens, dim] in float64; query head h reads kv head h / (heads / kvHeads). */
function attention(q: Float32Array, qHeads: number, k: Float64Array, v: Float64Array, kvHeads: number, tokens: number, dim: number): Float64Array {
  const out = new Float64Array(qHeads * tokens * dim);
  const scores = new Float64Array(tokens);
  for (let h = 0; h < qHeads; h++) {
    const kh = Math.floor(h / (qHeads / kvHeads));
    for (let t = 0; t < tokens; t++) {
      let max = -Infinity;
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += q[(h * tokens + t) * dim + d]! * k[(kh * tokens + s) * dim + d]!;
        scores[s] = dot / Math.sqrt(dim);
        max = Math.max(max, scores[s]!);
      }
      let z = 0;
      for (let s = 0; s <= t; s++) z += scores[s] = Math.exp(scores[s]! - max);
      for (let s = 0; s <= t; s++)
        for (let d = 0; d < dim; d++) out[(h * tokens + t) * dim + d] += (scores[s]! / z) * v[(kh * tokens + s) * dim + d]!;
    }
  }
  return out;
}

function relativeError(a: Float64Array, b: Float64Array): number {
  let num = 0, den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i]! - b[i]!) ** 2;
    den += b[i]! ** 2;
  }
  return Math.sqrt(num / den);
}

/** The value range of every row of [heads, tokens, dim] tensors: channels for keys, tokens for values. */
function rowRanges(tensors: Tensor[], kind: KvKind): number[] {
  const ranges: number[] = [];
  for (const t of tensors) {
    const [H, T, D] = t.shape as [number, number, number];
    for (let h = 0; h < H; h++)
      for (let r = 0; r < (kind === 'key' ? D : T); r++) {
        let lo = Infinity, hi = -Infinity;
        for (let k = 0; k < (kind === 'key' ? T : D); k++) {
          const v = t.data[kind === 'key' ? (h * T + k) * D + r : (h * T + r) * D + k]!;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        ranges.push(hi - lo);
      }
  }
  return ranges;
}

/** Plain quantization at eps: log2(floor(range / 2 eps) + 1) bits per element, averaged over rows (no metadata). */
export function plainBits(tensors: Tensor[], kind: KvKind, eps: number): number {
  const ranges = rowRanges(tensors, kind);
  return ranges.reduce((sum, range) => sum + Math.log2(Math.floor(range / (2 * eps)) + 1), 0) / ranges.length;
}

/** The issue's epsilon: half the step of plain 4-bit quantization of the median row. */
function medianRowEpsilon(tensors: Tensor[], kind: KvKind): number {
  const ranges = rowRanges(tensors, kind).sort((a, b) => a - b);
  return ranges[ranges.length >> 1]! / 15 / 2;
}

function errors(orig: Float32Array[], decoded: Float32Array[]): { max: number; mean: number; rms: number } {
  let max = 0, sum = 0, sq = 0, n = 0;
  orig.forEach((o, j) => {
    const d = decoded[j]!;
    for (let i = 0; i < o.length; i++) {
      const e = Math.abs(d[i]! - o[i]!);
      max = Math.max(max, e);
      sum += e;
      sq += e * e;
    }
    n += o.length;
  });
  return { max, mean: sum / n, rms: Math.sqrt(sq / n) };
}

async function realRows(real: Map<string, Tensor>, log: (l: string) => void): Promise<Row[]> {
  const rows: Row[] = [];
  const of = (kind: KvKind) => [...real].filter(([n]) => n.endsWith(`.${kind}`)).map(([, t]) => t);
  const all = [...of('key'), ...of('value')];
  const elements = all.reduce((s, t) => s + t.data.length, 0);

  for (const dtype of ['f32', 'bf16', 'f16'] as const) {
    const data = all.map((t) => (dtype === 'f32' ? t.data : toHalfBits(t.data, dtype)));
    const coded = data.reduce((s, d, j) => s + kv.encode(d, { shape: all[j]!.shape, dtype }).length, 0);
    const entropy = data.reduce((s, d, j) => s + planeEntropyBytes(d, dtype, all[j]!.shape), 0);
    const z = zstd(concat(data));
    const width = dtype === 'f32' ? 32 : 16;
    rows.push({
      suite: 'kv', name: `real K+V lossless ${dtype}`, medianMs: NaN, 'bits/el': (coded * 8) / elements, ratio: (width * elements) / (coded * 8),
      'vs plane entropy': coded / entropy, 'zstd -3 ratio': typeof z === 'string' ? z : z.ratio,
    });
  }

  // Decode speed on the real tensors (head_dim 32: 8192-element tiles): each kind's tensors as
  // one cache, with a leading axis over passages and layers.
  for (const kind of ['key', 'value'] as const) {
    const parts = of(kind);
    const f32 = new Float32Array(parts.reduce((n, t) => n + t.data.length, 0));
    let at = 0;
    for (const t of parts) f32.set(t.data, at), (at += t.data.length);
    const shape = [parts.length, ...parts[0]!.shape];
    for (const dtype of ['bf16', 'f16'] as const) {
      log(`kv real ${kind}: lossless ${dtype} decode`);
      const data = toHalfBits(f32, dtype);
      const bytes = kv.encode(data, { shape, dtype, kind, mode: 'lossless' });
      const ms = (await medians({ decode: () => kv.decode(bytes) }, 1000, 20)).decode!;
      rows.push({ suite: 'kv', name: `real ${kind === 'key' ? 'K' : 'V'} lossless ${dtype}, all tensors as one cache: decode`, medianMs: ms, 'bits/el': (bytes.length * 8) / data.length, 'decode GB/s': data.byteLength / 1e6 / ms });
    }
  }

  // Attention outputs from the real queries, with both K and V decoded.
  const passages = [...real.keys()].filter((n) => n.endsWith('.query')).map((n) => n.slice(0, -'.query'.length));
  const attentionError = (codeK: (t: Tensor) => Float32Array, codeV: (t: Tensor) => Float32Array): number => {
    let sum = 0;
    for (const p of passages) {
      const q = real.get(`${p}.query`)!, k = real.get(`${p}.key`)!, v = real.get(`${p}.value`)!;
      const [qh, T, D] = q.shape as [number, number, number];
      const kvh = k.shape[0]!;
      const exact = attention(q.data, qh, toFloat64(k.data, 'f32'), toFloat64(v.data, 'f32'), kvh, T, D);
      const lossy = attention(q.data, qh, toFloat64(codeK(k), 'f32'), toFloat64(codeV(v), 'f32'), kvh, T, D);
      sum += relativeError(lossy, exact);
    }
    return sum / passages.length;
  };

  const settings: { label: string; opts: (kind: KvKind) => Parameters<typeof kv.encode>[1] extends infer O ? Omit<O & object, 'shape'> : never }[] = [];
  const eps = { key: medianRowEpsilon(of('key'), 'key'), value: medianRowEpsilon(of('value'), 'value') };
  settings.push({ label: 'maxError eps (kind given)', opts: (kind) => ({ mode: 'lossy', maxError: eps[kind], kind }) });
  settings.push({ label: 'maxError eps (kind auto)', opts: (kind) => ({ mode: 'lossy', maxError: eps[kind] }) });
  for (const bits of [8, 4, 3, 2]) {
    settings.push({ label: `bits ${bits} (kind auto)`, opts: () => ({ mode: 'lossy', bits }) });
    if (bits === 4) settings.push({ label: 'bits 4 (kind given)', opts: (kind) => ({ mode: 'lossy', bits, kind }) });
  }
  settings.push({ label: 'bits 4 entropy false (kind given)', opts: (kind) => ({ mode: 'lossy', bits: 4, kind, entropy: false }) });
  for (const s of settings) {
    log(`kv real: ${s.label}`);
    const decodedOf = (t: Tensor, kind: KvKind) => kv.decode(kv.encode(t.data, { shape: t.shape, ...s.opts(kind) })).data as Float32Array;
    for (const kind of ['key', 'value'] as const) {
      const ts = of(kind);
      const coded = ts.reduce((sum, t) => sum + kv.encode(t.data, { shape: t.shape, ...s.opts(kind) }).length, 0);
      const n = ts.reduce((sum, t) => sum + t.data.length, 0);
      const e = errors(ts.map((t) => t.data), ts.map((t) => decodedOf(t, kind)));
      const row: Row = {
        suite: 'kv', name: `real ${kind === 'key' ? 'K' : 'V'} ${s.label}`, medianMs: NaN, 'bits/el': (coded * 8) / n, 'x f16': (16 * n) / (coded * 8),
        'max err': e.max, 'mean err': e.mean, 'rms err': e.rms,
      };
      if (s.label.startsWith('maxError')) {
        const plain = plainBits(ts, kind, eps[kind]);
        Object.assign(row, { eps: eps[kind], 'plain bits/el': plain, 'vs plain': (coded * 8) / n / plain });
      }
      rows.push(row);
    }
    rows.push({ suite: 'kv', name: `real K+V ${s.label}: attention output rel. error`, medianMs: NaN, 'attn rel err': attentionError((t) => decodedOf(t, 'key'), (t) => decodedOf(t, 'value')) });
  }
  return rows;
}

async function syntheticRows(log: (l: string) => void): Promise<Row[]> {
  const [heads, tokens, dim] = [8, 4096, 128];
  log(`kv synthetic: generating 2 x [${heads}, ${tokens}, ${dim}]`);
  const shape = [heads, tokens, dim];
  const rows: Row[] = [];
  for (const [kind, f32] of [['key', syntheticKeys(1, heads, tokens, dim)], ['value', syntheticValues(1, heads, tokens, dim)]] as const) {
    const f16 = toHalfBits(f32, 'f16');
    const bf16 = toHalfBits(f32, 'bf16');
    const cases: { label: string; data: Float32Array | Uint16Array; opts: Omit<Parameters<typeof kv.encode>[1], 'shape'> }[] = [
      { label: 'lossless f32', data: f32, opts: {} },
      { label: 'lossless bf16', data: bf16, opts: { dtype: 'bf16' } },
      { label: 'lossless f16', data: f16, opts: { dtype: 'f16' } },
      { label: 'lossy f32 bits 4', data: f32, opts: { mode: 'lossy', bits: 4, kind } },
      { label: 'lossy f32 bits 4 entropy false', data: f32, opts: { mode: 'lossy', bits: 4, kind, entropy: false } },
      { label: 'lossy f32 bits 4 kind auto', data: f32, opts: { mode: 'lossy', bits: 4 } },
      { label: 'lossy f16 bits 4', data: f16, opts: { dtype: 'f16', mode: 'lossy', bits: 4, kind } },
      { label: 'lossy f16 bits 4 entropy false', data: f16, opts: { dtype: 'f16', mode: 'lossy', bits: 4, kind, entropy: false } },
      { label: 'lossy bf16 bits 4 kind auto', data: bf16, opts: { dtype: 'bf16', mode: 'lossy', bits: 4 } },
      { label: 'lossy f32 maxError 0.01', data: f32, opts: { mode: 'lossy', maxError: 0.01, kind } },
      { label: 'lossy f32 maxError 0.01 entropy false', data: f32, opts: { mode: 'lossy', maxError: 0.01, kind, entropy: false } },
    ];
    for (const c of cases) {
      log(`kv synthetic ${kind}: ${c.label}`);
      const bytes = kv.encode(c.data, { shape, ...c.opts });
      const m = await medians({ encode: () => kv.encode(c.data, { shape, ...c.opts }), decode: () => kv.decode(bytes) }, 1500, 5);
      const gb = c.data.byteLength / 1e9;
      const z = c.label.startsWith('lossless') ? zstd(asBytes(c.data)) : undefined;
      rows.push({
        suite: 'kv', name: `synthetic ${kind === 'key' ? 'K' : 'V'} ${c.label}`, medianMs: m.encode!, 'bits/el': (bytes.length * 8) / c.data.length,
        'x f16': (16 * c.data.length) / (bytes.length * 8), 'encode GB/s': gb / (m.encode! / 1e3), 'decode GB/s': gb / (m.decode! / 1e3),
        ...(z === undefined ? {} : typeof z === 'string' ? { zstd: z } : { 'zstd -3 ratio': z.ratio, 'zstd enc GB/s': z.compressMBs / 1e3, 'zstd dec GB/s': z.decompressMBs / 1e3 }),
      });
    }
  }
  return rows;
}

export const kvSuite: Suite = {
  name: 'kv',
  description: 'KV cache coding: real tiny-llama-brown K/V (head_dim 32) and synthetic [8, 4096, 128] caches; one thread; zstd -3 as the baseline',
  async run(log) {
    const real = realTensors();
    const rows: Row[] = typeof real === 'string' ? [{ suite: 'kv', name: 'real tensors', medianMs: NaN, note: real }] : await realRows(real, log);
    rows.push(...(await syntheticRows(log)));
    return rows;
  },
};
