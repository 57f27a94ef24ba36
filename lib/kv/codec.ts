/**
 * KV cache coding: `kv.encode` / `kv.decode` for whole tensors, lossless or
 * lossy with a guaranteed bound, and `kv.inspect` to read a stream's header.
 *
 * @example
 *   const bytes = kv.encode(keys, { shape: [8, 4096, 128], kind: 'key', mode: 'lossy', maxError: 0.01 });
 *   const { data, shape } = kv.decode(bytes);            // every |data[i] - keys[i]| <= 0.01
 *   const first = kv.decode(bytes, { tokens: 100 });     // reads only the tiles it needs
 */
import { withAbort } from '../async.js';
import { kernelOptions, loaded, type KvTensorData, type NativeCancelToken, type NativeKernelOptions, type NativeKvDecoded, type NativeKvLayout } from '../native.js';
import { checkInt, checkObject, checkThreads } from '../options.js';
import { typeError } from '../errors.js';
import {
  checkData, checkShape, dtypeName, kindName, modeName, resolveCodec, shapeOf,
  type KvDType, type KvEncodeOptions, type KvKind, type KvMode,
} from './options.js';

export interface KvDecodeOptions {
  /** Threads for this call (default 1 for the synchronous form). */
  threads?: number;
  /** Decode only the first `tokens` tokens of every layer and head (default: all). */
  tokens?: number;
}

export interface KvAsyncOptions {
  signal?: AbortSignal;
}

export interface KvDecoded {
  /** Float32Array for 'f32', Uint16Array of raw bits for 'f16' / 'bf16'. */
  data: KvTensorData;
  shape: number[];
  dtype: KvDType;
  /** The `kind` given at encode time, or 'auto' when the codec chose per tile. */
  kind: KvKind | 'auto';
  mode: KvMode;
}

export interface KvInspection {
  version: 1;
  dtype: KvDType;
  mode: KvMode;
  kind: KvKind | 'auto';
  /** Lossy `bits` (0 otherwise). */
  bits: number;
  /** Lossy `maxError` (0 otherwise). */
  maxError: number;
  /** false when the lossy codes are bit-packed (`entropy: false`); true otherwise. */
  entropy: boolean;
  shape: number[];
  tileTokens: number;
  tiles: number;
  /** Whole stream, header and checksums included. */
  bytes: number;
  elements: number;
  /** bytes * 8 / elements: everything counted. */
  bitsPerElement: number;
  /** Size of the raw tensor in its dtype over the stream size. */
  ratio: number;
  largestTileBytes: number;
}

function layoutFor(data: unknown, options: KvEncodeOptions): { data: KvTensorData; layout: NativeKvLayout } {
  const opts = checkObject<KvEncodeOptions>(options, 'options');
  if (opts.shape === undefined) throw typeError('ERR_LLMK_BAD_SHAPE', 'options.shape is required');
  const layout = { ...resolveCodec(opts), ...checkShape(opts.shape) };
  const elements = layout.layers * layout.heads * layout.tokens * layout.headDim;
  return { data: checkData(data, dtypeName(layout.dtype), elements), layout };
}

function decoded(r: NativeKvDecoded): KvDecoded {
  return { data: r.data, shape: shapeOf(r.layout), dtype: dtypeName(r.layout.dtype), kind: kindName(r.layout.kind), mode: modeName(r.layout.mode) };
}

function checkBytes(bytes: unknown): Uint8Array {
  if (!(bytes instanceof Uint8Array)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'bytes must be a Uint8Array');
  return bytes;
}

/** The checked decode options, as the addon takes them (with the cancel token of an async call). */
function decodeOptions(options: KvDecodeOptions | undefined): (cancel?: NativeCancelToken) => NativeKernelOptions & { tokens?: number } {
  const opts = checkObject<KvDecodeOptions>(options, 'options');
  const threads = checkThreads(opts.threads);
  const tokens = opts.tokens === undefined ? {} : { tokens: checkInt(opts.tokens, 'tokens', 0, 0xffffffff) };
  return (cancel) => ({ ...kernelOptions(threads, cancel), ...tokens });
}

export const kv = {
  /** Encodes a [kvHeads, tokens, headDim] (or [layers, ...]) tensor into a self-checking stream. */
  encode(data: KvTensorData, options: KvEncodeOptions): Uint8Array {
    const { data: d, layout } = layoutFor(data, options);
    return loaded().native.kvEncode(d, layout, kernelOptions(checkThreads(options.threads)));
  },

  /** kv.encode off the main thread (threads default to setThreads()). */
  encodeAsync(data: KvTensorData, options: KvEncodeOptions & KvAsyncOptions): Promise<Uint8Array> {
    const { data: d, layout } = layoutFor(data, options);
    const threads = checkThreads(options.threads);
    return withAbort(options.signal, (cancel) => loaded().native.kvEncodeAsync(d, layout, kernelOptions(threads, cancel)));
  },

  /** Decodes a stream from kv.encode, KvEncoder or KvPrefixStore; throws ERR_LLMK_KV_CORRUPT on any damage. */
  decode(bytes: Uint8Array, options?: KvDecodeOptions): KvDecoded {
    const opts = decodeOptions(options);
    return decoded(loaded().native.kvDecode(checkBytes(bytes), opts()));
  },

  async decodeAsync(bytes: Uint8Array, options?: KvDecodeOptions & KvAsyncOptions): Promise<KvDecoded> {
    const opts = decodeOptions(options);
    const b = checkBytes(bytes);
    return decoded(await withAbort(options?.signal, (cancel) => loaded().native.kvDecodeAsync(b, opts(cancel))));
  },

  /** Header facts and bits per element (checks the header and table checksums, not the tiles). */
  inspect(bytes: Uint8Array): KvInspection {
    const b = checkBytes(bytes);
    const { layout: l, tileBytes } = loaded().native.kvInspect(b);
    const elements = l.layers * l.heads * l.tokens * l.headDim;
    const width = l.dtype === 0 ? 4 : 2;
    return {
      version: 1,
      dtype: dtypeName(l.dtype),
      mode: modeName(l.mode),
      kind: kindName(l.kind),
      bits: l.bits,
      maxError: l.maxError,
      entropy: !l.packed,
      shape: shapeOf(l),
      tileTokens: l.tileTokens,
      tiles: tileBytes.length,
      bytes: b.length,
      elements,
      bitsPerElement: elements ? (b.length * 8) / elements : 0,
      ratio: b.length ? (elements * width) / b.length : 0,
      largestTileBytes: tileBytes.reduce((m, v) => Math.max(m, v), 0),
    };
  },
};
