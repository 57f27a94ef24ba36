/**
 * KV codec options as users write them, checked once and turned into the
 * numeric layout the addon takes (native/addon/kv.cc).
 */
import { rangeError, typeError } from '../errors.js';
import type { KvTensorData, NativeKvLayout } from '../native.js';
import { checkBoolean, checkChoice, checkInt, checkNumber, checkObject } from '../options.js';

export type KvDType = 'f32' | 'f16' | 'bf16';
export type KvKind = 'key' | 'value';
export type KvMode = 'lossless' | 'lossy';

/** What the codec does with a tensor; shared by kv.encode, KvEncoder and KvPrefixStore. */
export interface KvCodecOptions {
  /** 'f32' (Float32Array) or 'f16' / 'bf16' (Uint16Array of raw bits). Default 'f32'. */
  dtype?: KvDType;
  /** 'lossless' (default) or 'lossy' (then exactly one of bits or maxError). */
  mode?: KvMode;
  /** Lossy: quantize keys per channel, values per token; omitted: chosen per tile by cost. */
  kind?: KvKind;
  /** Lossy: 2, 3, 4 or 8 bits (a step of about range / (2^bits - 1) per row). */
  bits?: number;
  /** Lossy: every decoded element is within this absolute distance of the original (compared in float64). */
  maxError?: number;
  /**
   * Lossy: `false` skips prediction and entropy coding and bit-packs each tile's codes at one width
   * (quantize+pack, as llama.cpp's q4_0): about twice as fast to encode, the same decoded values for
   * the same kind, more bits per element. Default `true`.
   */
  entropy?: boolean;
  /** Tokens per tile (default 256): the unit of parallelism and of random access. */
  tileTokens?: number;
}

export interface KvEncodeOptions extends KvCodecOptions {
  /** [kvHeads, tokens, headDim], or [layers, kvHeads, tokens, headDim]; row-major. */
  shape: readonly number[];
  /** Threads for this call (default 1 for the synchronous form). */
  threads?: number;
}

const DTYPES = ['f32', 'f16', 'bf16'] as const;
const KINDS = ['key', 'value'] as const;
const MODES = ['lossless', 'lossy'] as const;
const U32 = 0xffffffff;

export function dtypeCode(dtype: KvDType): 0 | 1 | 2 {
  return DTYPES.indexOf(dtype) as 0 | 1 | 2;
}
export function dtypeName(code: number): KvDType {
  return DTYPES[code]!;
}
export function kindName(code: number): KvKind | 'auto' {
  return code === 2 ? 'auto' : KINDS[code]!;
}
export function modeName(code: number): KvMode {
  return MODES[code]!;
}

/** The codec part of a layout (shape fields left at zero). */
export function resolveCodec(options: KvCodecOptions): NativeKvLayout {
  const opts = checkObject<KvCodecOptions>(options, 'options');
  const dtype = checkChoice(opts.dtype, 'dtype', DTYPES, 'f32');
  const mode = checkChoice(opts.mode, 'mode', MODES, 'lossless');
  const kind = opts.kind === undefined ? undefined : checkChoice(opts.kind, 'kind', KINDS, 'key');
  let bits = 0;
  let maxError = 0;
  if (mode === 'lossless') {
    if (opts.bits !== undefined || opts.maxError !== undefined)
      throw rangeError('ERR_LLMK_BAD_OPTION', "bits and maxError apply to mode 'lossy' only");
  } else {
    if ((opts.bits === undefined) === (opts.maxError === undefined))
      throw rangeError('ERR_LLMK_BAD_OPTION', "mode 'lossy' needs exactly one of bits or maxError");
    if (opts.bits !== undefined) {
      bits = checkInt(opts.bits, 'bits', 2, 8);
      if (![2, 3, 4, 8].includes(bits)) throw rangeError('ERR_LLMK_BAD_OPTION', `bits must be 2, 3, 4 or 8, got ${bits}`);
    } else {
      maxError = checkNumber(opts.maxError, 'maxError', 0, 1e300);
      if (!(maxError > 0)) throw rangeError('ERR_LLMK_BAD_OPTION', 'maxError must be > 0');
    }
  }
  const entropy = checkBoolean(opts.entropy, 'entropy', true);
  if (!entropy && mode === 'lossless') throw rangeError('ERR_LLMK_BAD_OPTION', "entropy: false applies to mode 'lossy' only");
  return {
    dtype: dtypeCode(dtype),
    mode: mode === 'lossless' ? 0 : 1,
    kind: kind === undefined ? 2 : kind === 'key' ? 0 : 1,
    bits,
    maxError,
    packed: !entropy,
    layers: 1,
    heads: 1,
    tokens: 0,
    headDim: 1,
    hasLayers: false,
    tileTokens: opts.tileTokens === undefined ? 256 : checkInt(opts.tileTokens, 'tileTokens', 1, 65536),
  };
}

export function checkShape(shape: unknown): { layers: number; heads: number; tokens: number; headDim: number; hasLayers: boolean } {
  if (!Array.isArray(shape) || (shape.length !== 3 && shape.length !== 4))
    throw typeError('ERR_LLMK_BAD_SHAPE', 'shape must be [kvHeads, tokens, headDim] or [layers, kvHeads, tokens, headDim]');
  const names = shape.length === 4 ? ['layers', 'kvHeads', 'tokens', 'headDim'] : ['kvHeads', 'tokens', 'headDim'];
  for (let i = 0; i < shape.length; i++) checkInt(shape[i], `shape[${i}] (${names[i]})`, names[i] === 'tokens' ? 0 : 1, U32); // holes too
  const [layers, heads, tokens, headDim] = shape.length === 4 ? shape : [1, ...shape];
  return { layers, heads, tokens, headDim, hasLayers: shape.length === 4 };
}

export function checkData(data: unknown, dtype: KvDType, elements: number, name = 'data'): KvTensorData {
  const want = dtype === 'f32' ? Float32Array : Uint16Array;
  if (!(data instanceof want))
    throw typeError('ERR_LLMK_BAD_ARGUMENT', `${name} must be a ${want.name} for dtype '${dtype}'${dtype === 'f32' ? '' : ' (raw 16-bit patterns)'}`);
  if (data.length !== elements)
    throw rangeError('ERR_LLMK_BAD_SHAPE', `${name} has ${data.length} elements; the shape needs ${elements}`);
  return data;
}

export function shapeOf(l: NativeKvLayout): number[] {
  return l.hasLayers ? [l.layers, l.heads, l.tokens, l.headDim] : [l.heads, l.tokens, l.headDim];
}
