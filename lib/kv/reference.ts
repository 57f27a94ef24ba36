/**
 * A float64 reference of the lossy quantizer (native/kv/lossy.cc), written
 * for clarity: what every decoded element must be, computed element by
 * element from the definition. Tests compare the native decoder with it bit
 * for bit; it also holds the exact 16-bit float conversions the tests and
 * benchmarks use.
 */
import type { KvTensorData } from '../native.js';
import type { KvDType, KvKind } from './options.js';

// 2^(k/16), the same float64 values as the table in native/kv/float_bits.h.
const STEP_FRACTIONS = [
  1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484,
  1.2968395546510096, 1.3542555469368927, 1.4142135623730951, 1.4768261459394993, 1.5422108254079407,
  1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474,
];
const STEP_INDEX_MIN = -2048;
const STEP_INDEX_MAX = 2047;
const MAX_CODE = 2 ** 30;

export function stepForIndex(index: number): number {
  return STEP_FRACTIONS[index & 15]! * 2 ** Math.floor(index / 16);
}

function roundHalfEven(y: number): number {
  const f = Math.floor(y);
  const diff = y - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// Rounds to a binary format with E exponent bits and M mantissa bits, in one step.
function roundToFormat(v: number, E: number, M: number): number {
  if (!Number.isFinite(v) || v === 0) return v;
  const bias = 2 ** (E - 1) - 1;
  const a = Math.abs(v);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  const ulp = 2 ** (Math.max(e, 1 - bias) - M);
  const r = roundHalfEven(a / ulp) * ulp;
  const max = (2 - 2 ** -M) * 2 ** bias;
  return Math.sign(v) * (r > max ? Infinity : r);
}

export function roundToDType(dtype: KvDType, v: number): number {
  if (dtype === 'f32') return Math.fround(v);
  return dtype === 'f16' ? roundToFormat(v, 5, 10) : roundToFormat(v, 8, 7);
}

function smallToNumber(h: number, E: number, M: number): number {
  const sign = h >> (E + M) ? -1 : 1;
  const exp = (h >> M) & ((1 << E) - 1);
  const man = h & ((1 << M) - 1);
  const bias = 2 ** (E - 1) - 1;
  if (exp === (1 << E) - 1) return man ? NaN : sign * Infinity;
  if (exp === 0) return sign * man * 2 ** (1 - bias - M);
  return sign * (1 + man / 2 ** M) * 2 ** (exp - bias);
}

function numberToSmall(v: number, E: number, M: number): number {
  if (Number.isNaN(v)) return (((1 << E) - 1) << M) | (1 << (M - 1));
  const r = roundToFormat(v, E, M);
  const sign = r < 0 || Object.is(r, -0) ? 1 << (E + M) : 0;
  const a = Math.abs(r);
  if (a === Infinity) return sign | (((1 << E) - 1) << M);
  const bias = 2 ** (E - 1) - 1;
  if (a < 2 ** (1 - bias)) return sign | Math.round(a / 2 ** (1 - bias - M));
  const e = Math.floor(Math.log2(a));
  const exp = 2 ** e > a ? e - 1 : 2 ** (e + 1) <= a ? e + 1 : e;
  return sign | ((exp + bias) << M) | Math.round((a / 2 ** exp - 1) * 2 ** M);
}

/** The value of each element of a tensor in its dtype, as float64. */
export function toFloat64(data: KvTensorData, dtype: KvDType): Float64Array {
  if (dtype === 'f32') return Float64Array.from(data as Float32Array);
  const out = new Float64Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = dtype === 'f16' ? smallToNumber(data[i]!, 5, 10) : smallToNumber(data[i]!, 8, 7);
  return out;
}

/** Float32 values rounded once to f16 or bf16, as raw 16-bit patterns. */
export function toHalfBits(values: Float32Array | Float64Array, dtype: 'f16' | 'bf16'): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = dtype === 'f16' ? numberToSmall(values[i]!, 5, 10) : numberToSmall(values[i]!, 8, 7);
  return out;
}

export interface QuantizeReferenceOptions {
  dtype: KvDType;
  kind: KvKind;
  bits?: number;
  maxError?: number;
  tileTokens: number;
}

/**
 * What the lossy codec decodes a [heads, tokens, headDim] (or [layers, ...])
 * tensor to, with `bound[i]` the promised error of element i (Infinity-free:
 * raw rows have bound 0 and decode to their input).
 */
export function quantizeReference(
  data: KvTensorData, shape: readonly number[], o: QuantizeReferenceOptions,
): { decoded: Float64Array; bound: Float64Array; rawRows: number } {
  const [heads, tokens, dim] = shape.length === 4 ? [shape[0]! * shape[1]!, shape[2]!, shape[3]!] : [shape[0]!, shape[1]!, shape[2]!];
  const x = toFloat64(data, o.dtype);
  const decoded = new Float64Array(x.length);
  const bound = new Float64Array(x.length);
  let rawRows = 0;
  for (let h = 0; h < heads; h++) {
    for (let t0 = 0; t0 < tokens; t0 += o.tileTokens) {
      const T = Math.min(o.tileTokens, tokens - t0);
      const rows = o.kind === 'key' ? dim : T;
      const len = o.kind === 'key' ? T : dim;
      const at = (r: number, k: number) => (h * tokens + t0 + (o.kind === 'key' ? k : r)) * dim + (o.kind === 'key' ? r : k);
      for (let r = 0; r < rows; r++) {
        const q = quantizeRow(x, o, len, (k) => at(r, k));
        for (let k = 0; k < len; k++) {
          const i = at(r, k);
          decoded[i] = q ? roundToDType(o.dtype, q.codes[k]! * q.step) : x[i]!;
          bound[i] = q ? (o.bits ? q.step / 2 : o.maxError!) : 0;
        }
        if (!q) rawRows++;
      }
    }
  }
  return { decoded, bound, rawRows };
}

function quantizeRow(x: Float64Array, o: QuantizeReferenceOptions, len: number, at: (k: number) => number): { codes: number[]; step: number } | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (let k = 0; k < len; k++) {
    const v = x[at(k)]!;
    if (!Number.isFinite(v)) return null;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  let step: number;
  if (o.bits) {
    let d = (hi - lo) / (2 ** o.bits - 1);
    if (!(d > 0)) d = Math.max(Math.abs(lo) * 2 ** -24, 2 ** -120);
    let e = Math.min(Math.max(Math.ceil(16 * Math.log2(d)), STEP_INDEX_MIN), STEP_INDEX_MAX);
    while (e < STEP_INDEX_MAX && stepForIndex(e) < d) e++;
    while (e > STEP_INDEX_MIN && stepForIndex(e - 1) >= d) e--;
    if (stepForIndex(e) < d) return null;
    step = stepForIndex(e);
  } else {
    step = 2 * o.maxError!;
  }
  const codes: number[] = [];
  for (let k = 0; k < len; k++) {
    const v = x[at(k)]!;
    let q = roundHalfEven(v / step);
    if (!(Math.abs(q) < MAX_CODE)) return null;
    if (!o.bits) {
      const ok = (c: number) => Math.abs(roundToDType(o.dtype, c * step) - v) <= o.maxError!;
      if (!ok(q)) {
        if (ok(q - 1)) q -= 1;
        else if (ok(q + 1)) q += 1;
        else return null;
      }
    }
    codes.push(q);
  }
  return { codes, step };
}
