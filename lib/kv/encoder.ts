/**
 * KvEncoder: a KV stream that grows as tokens arrive. Each full tile is
 * encoded once, when it fills; `bytes()` adds the open tiles and returns a
 * stream that kv.decode reads (also only its first n tokens).
 *
 * @example
 *   const enc = new KvEncoder({ kvHeads: 8, headDim: 128, kind: 'value', mode: 'lossy', bits: 4 });
 *   enc.append(prefillValues);      // [8, n, 128]
 *   enc.append(stepValues);         // [8, 1, 128] per decoding step
 *   const bytes = enc.bytes();
 */
import { loaded, type KvTensorData, type NativeKvStreamEncoder } from '../native.js';
import { rangeError } from '../errors.js';
import { checkInt, checkObject } from '../options.js';
import { checkData, dtypeName, resolveCodec, type KvCodecOptions, type KvDType } from './options.js';

export interface KvEncoderOptions extends KvCodecOptions {
  kvHeads: number;
  headDim: number;
}

export class KvEncoder {
  readonly kvHeads: number;
  readonly headDim: number;
  readonly dtype: KvDType;
  readonly #native: NativeKvStreamEncoder;

  constructor(options: KvEncoderOptions) {
    const opts = checkObject<KvEncoderOptions>(options, 'options');
    const layout = resolveCodec(opts);
    this.kvHeads = checkInt(opts.kvHeads, 'kvHeads', 1, 0xffffffff);
    this.headDim = checkInt(opts.headDim, 'headDim', 1, 0xffffffff);
    this.dtype = dtypeName(layout.dtype);
    this.#native = new (loaded().native.KvStreamEncoder)({ ...layout, heads: this.kvHeads, headDim: this.headDim });
  }

  /** Tokens appended so far. */
  get tokens(): number {
    return this.#native.tokens;
  }

  /** Appends n tokens: `data` shaped [kvHeads, n, headDim], row-major. */
  append(data: KvTensorData): this {
    const perToken = this.kvHeads * this.headDim;
    const length = (data as { length?: unknown } | null)?.length;
    if (typeof length === 'number' && length % perToken !== 0)
      throw rangeError('ERR_LLMK_BAD_SHAPE', `data has ${length} elements, not a multiple of kvHeads * headDim = ${perToken}`);
    const n = typeof length === 'number' ? length / perToken : 0;
    this.#native.append(checkData(data, this.dtype, n * perToken), n);
    return this;
  }

  /** The stream so far: [kvHeads, tokens, headDim] for kv.decode. */
  bytes(): Uint8Array {
    return this.#native.bytes();
  }
}
