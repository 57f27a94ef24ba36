/**
 * KvPrefixStore: prefix deduplication of KV caches across requests. A token
 * sequence is cut into blocks of `blockTokens`; block i is keyed by a chained
 * SHA-256 (the key of block i - 1, then block i's token ids), seeded with the
 * model name, the layout and the codec parameters, so equal keys mean equal
 * prefixes under the same model and codec. Each block's KV is stored
 * compressed (one kv.encode stream per block) and reference-counted: `put`
 * of a sequence takes a reference on each of its blocks, `release` drops it.
 * Matches are exact: the stored token ids are compared, not only the hash.
 *
 * @example
 *   const store = new KvPrefixStore({ blockTokens: 64, mode: 'lossy', maxError: 0.01, model: 'llama-3-8b' });
 *   store.put(tokens, { data: keys, shape: [8, tokens.length, 128], dtype: 'f32' });
 *   const { length, kv } = store.match(nextPromptTokens);  // length: a multiple of 64
 */
import { createHash } from 'node:crypto';
import { rangeError, typeError } from '../errors.js';
import type { KvTensorData } from '../native.js';
import { checkInt, checkObject } from '../options.js';
import { kv } from './codec.js';
import { checkData, checkShape, resolveCodec, type KvCodecOptions, type KvDType } from './options.js';

export interface KvPrefixStoreOptions extends Omit<KvCodecOptions, 'tileTokens' | 'dtype'> {
  /** Tokens per block: prefixes are matched a whole block at a time. */
  blockTokens: number;
  /** Names the model whose caches these are; part of every key. */
  model?: string;
}

export interface KvTensor {
  data: KvTensorData;
  /** [kvHeads, tokens, headDim] or [layers, kvHeads, tokens, headDim]. */
  shape: readonly number[];
  dtype: KvDType;
}

export interface KvPutResult {
  /** Whole blocks in the sequence (a partial last block is not stored). */
  blocks: number;
  /** Blocks that were new. */
  added: number;
  /** Blocks already stored, now with one more reference. */
  shared: number;
}

interface Block {
  tokens: Uint32Array;
  bytes: Uint8Array;
  refs: number;
}

interface Geometry {
  dtype: KvDType;
  layers: number;
  heads: number;
  headDim: number;
  hasLayers: boolean;
}

function checkTokens(tokens: unknown): Uint32Array {
  if (tokens instanceof Uint32Array) return tokens;
  if (!Array.isArray(tokens)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'tokens must be a Uint32Array or an array of token ids');
  for (let i = 0; i < tokens.length; i++) checkInt(tokens[i], `tokens[${i}]`, 0, 0xffffffff); // a loop, not forEach: a hole is no token
  return Uint32Array.from(tokens as number[]);
}

export class KvPrefixStore {
  readonly blockTokens: number;
  readonly #codec: KvCodecOptions;
  readonly #model: string;
  readonly #blocks = new Map<string, Block>();
  #geometry: Geometry | undefined;
  #seed: Buffer | undefined;
  #bytes = 0;

  constructor(options: KvPrefixStoreOptions) {
    const opts = checkObject<KvPrefixStoreOptions>(options, 'options');
    this.blockTokens = checkInt(opts.blockTokens, 'blockTokens', 1, 65536);
    if (opts.model !== undefined && typeof opts.model !== 'string') throw typeError('ERR_LLMK_BAD_OPTION', 'model must be a string');
    this.#model = opts.model ?? '';
    const { blockTokens: _b, model: _m, ...codec } = opts;
    resolveCodec(codec);  // validates now rather than at the first put
    this.#codec = codec;
  }

  /** Blocks held. */
  get size(): number {
    return this.#blocks.size;
  }

  /** Compressed bytes held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** Stores the KV of `tokens` (its token axis as long as `tokens`), one reference per whole block. */
  put(tokens: Uint32Array | readonly number[], kvTensor: KvTensor): KvPutResult {
    const ids = checkTokens(tokens);
    const t = checkObject<KvTensor>(kvTensor, 'kv');
    const s = checkShape(t.shape);
    const geometry = this.#adopt({ dtype: t.dtype, layers: s.layers, heads: s.heads, headDim: s.headDim, hasLayers: s.hasLayers });
    if (s.tokens !== ids.length)
      throw rangeError('ERR_LLMK_BAD_SHAPE', `kv covers ${s.tokens} tokens but ${ids.length} token ids were given`);
    const data = checkData(t.data, geometry.dtype, s.layers * s.heads * s.tokens * s.headDim, 'kv.data');
    const result: KvPutResult = { blocks: Math.floor(ids.length / this.blockTokens), added: 0, shared: 0 };
    let key = this.#seed!;
    for (let b = 0; b < result.blocks; b++) {
      const blockIds = ids.subarray(b * this.blockTokens, (b + 1) * this.blockTokens);
      key = this.#chain(key, blockIds);
      const id = key.toString('base64');
      const held = this.#blocks.get(id);
      if (held && equalIds(held.tokens, blockIds)) {
        held.refs++;
        result.shared++;
        continue;
      }
      if (held) throw new Error('llm-kernels: SHA-256 collision between two token blocks');
      const block = this.#slice(data, s.tokens, b);
      const bytes = kv.encode(block, { ...this.#codec, dtype: geometry.dtype, tileTokens: this.blockTokens, shape: this.#shape(this.blockTokens) });
      this.#blocks.set(id, { tokens: blockIds.slice(), bytes, refs: 1 });
      this.#bytes += bytes.length;
      result.added++;
    }
    return result;
  }

  /** The longest stored prefix of `tokens` (whole blocks; 0 and kv null when none) and its decoded KV. */
  match(tokens: Uint32Array | readonly number[]): { length: number; kv: KvTensor | null } {
    const ids = checkTokens(tokens);
    const found = this.#walk(ids);
    if (found.length === 0 || !this.#geometry) return { length: 0, kv: null };
    const g = this.#geometry;
    const length = found.length * this.blockTokens;
    const out = g.dtype === 'f32' ? new Float32Array(g.layers * g.heads * length * g.headDim) : new Uint16Array(g.layers * g.heads * length * g.headDim);
    const run = this.blockTokens * g.headDim;
    found.forEach(({ block }, b) => {
      const part = kv.decode(block.bytes).data;
      for (let lh = 0; lh < g.layers * g.heads; lh++) out.set(part.subarray(lh * run, (lh + 1) * run), lh * length * g.headDim + b * run);
    });
    return { length, kv: { data: out, shape: this.#shape(length), dtype: g.dtype } };
  }

  /** Drops one reference on each stored block of `tokens`; returns how many blocks were freed. */
  release(tokens: Uint32Array | readonly number[]): number {
    let freed = 0;
    for (const { id, block } of this.#walk(checkTokens(tokens))) {
      if (--block.refs > 0) continue;
      this.#blocks.delete(id);
      this.#bytes -= block.bytes.length;
      freed++;
    }
    return freed;
  }

  // The stored blocks that make up the longest prefix of `ids`, in order.
  #walk(ids: Uint32Array): { id: string; block: Block }[] {
    const found: { id: string; block: Block }[] = [];
    let key = this.#seed;
    if (!key) return found;
    for (let b = 0; b < Math.floor(ids.length / this.blockTokens); b++) {
      const blockIds = ids.subarray(b * this.blockTokens, (b + 1) * this.blockTokens);
      key = this.#chain(key, blockIds);
      const id = key.toString('base64');
      const block = this.#blocks.get(id);
      if (!block || !equalIds(block.tokens, blockIds)) break;
      found.push({ id, block });
    }
    return found;
  }

  #chain(prev: Buffer, ids: Uint32Array): Buffer {
    const le = Buffer.from(ids.buffer, ids.byteOffset, ids.byteLength);
    return createHash('sha256').update(prev).update(le).digest();
  }

  // The first put fixes the layout; the seed binds model, layout and codec into every key.
  #adopt(g: Geometry): Geometry {
    if (!this.#geometry) {
      if (g.dtype !== 'f32' && g.dtype !== 'f16' && g.dtype !== 'bf16') throw rangeError('ERR_LLMK_BAD_OPTION', "kv.dtype must be 'f32', 'f16' or 'bf16'");
      resolveCodec({ ...this.#codec, dtype: g.dtype });
      this.#geometry = g;
      const params = JSON.stringify({ model: this.#model, blockTokens: this.blockTokens, geometry: g, codec: this.#codec });
      this.#seed = createHash('sha256').update(params).digest();
      return g;
    }
    const h = this.#geometry;
    if (h.dtype !== g.dtype || h.layers !== g.layers || h.heads !== g.heads || h.headDim !== g.headDim || h.hasLayers !== g.hasLayers)
      throw rangeError('ERR_LLMK_BAD_SHAPE', `this store holds ${JSON.stringify(h)}; got ${JSON.stringify(g)}`);
    return h;
  }

  #shape(tokens: number): number[] {
    const g = this.#geometry!;
    return g.hasLayers ? [g.layers, g.heads, tokens, g.headDim] : [g.heads, tokens, g.headDim];
  }

  #slice(data: KvTensorData, tokens: number, block: number): KvTensorData {
    const g = this.#geometry!;
    const run = this.blockTokens * g.headDim;
    const out = data instanceof Float32Array ? new Float32Array(g.layers * g.heads * run) : new Uint16Array(g.layers * g.heads * run);
    for (let lh = 0; lh < g.layers * g.heads; lh++) {
      const from = (lh * tokens + block * this.blockTokens) * g.headDim;
      out.set(data.subarray(from, from + run), lh * run);
    }
    return out;
  }
}

function equalIds(a: Uint32Array, b: Uint32Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
