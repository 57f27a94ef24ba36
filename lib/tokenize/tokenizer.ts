/**
 * Byte-level BPE tokenizers, exact to tiktoken.
 *
 * @example
 *   import { Tokenizer } from 'llm-kernels';
 *   const tok = Tokenizer.fromEncoding('cl100k_base');
 *   const ids = tok.encode('hello world');       // Uint32Array [15339, 1917]
 *   tok.decode(ids);                             // 'hello world'
 *   tok.encode('<|endoftext|>', { allowedSpecial: 'all' }); // Uint32Array [100257]
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { rangeError, typeError } from '../errors.js';
import { loaded, type NativeBpeEncoding, type NativeCancelToken } from '../native.js';
import { withAbort } from '../async.js';
import { checkChoice, checkInt, checkObject, checkThreads } from '../options.js';
import { encodingFile, encodingNameForModel, ENCODING_NAMES, type EncodingName } from './encodings.js';
import { SpecialTokens, type SpecialOptions, type SpecialPlan } from './specials.js';
import { encodingData, parseTiktokenRanks } from './tiktoken-file.js';
import { parseHuggingFace, type HuggingFaceTokenizer } from './huggingface.js';
import { trainBpe, type TrainOptions, type TrainSource } from './train.js';

/**
 * A text, or its raw bytes. Bytes that are valid UTF-8 encode as their text. Bytes that are not
 * follow tiktoken's rule for bytes: the longest valid prefix is split by the pattern, and its last
 * pre-token (with the tokens of only spaces, tabs and newlines before it, where its first token is
 * one) is merged together with every byte after the prefix as one piece; between special tokens,
 * each segment so. A Hugging Face tokenizer takes text: bytes that are not UTF-8 become U+FFFD
 * there, as TextDecoder makes them.
 */
export type TextInput = string | Uint8Array;

export interface TiktokenFileOptions {
  /** The pre-tokenizer pattern (tiktoken's pat_str). Supported: the patterns of r50k/p50k (GPT-2), cl100k and o200k; any other is rejected with ERR_LLMK_UNSUPPORTED. */
  pattern: string;
  /** Special tokens and their ids (default none). */
  specialTokens?: Record<string, number>;
  /** A name for error messages and `tok.name` (default: the path). */
  name?: string;
}

export interface BatchOptions extends SpecialOptions {
  /** Threads for this call (default: setThreads(), initially the number of cores). */
  threads?: number;
  signal?: AbortSignal;
}

/** A streaming decoder: never emits half of a UTF-8 character across chunks. */
export interface TokenDecoder {
  write(ids: Uint32Array | readonly number[]): string;
  end(): string;
}

const cache = new Map<EncodingName, Tokenizer>();
// Decodes and streaming writes of up to this many ids join per-token strings
// (Tokenizer.tokenText) in JS; longer ones are faster through the addon.
const SHORT_DECODE = 16;
// A decode's text from 64 KiB may come back as an external string: V8 keeps the text in the
// addon's buffer, reused once the string is collected — no copy into fresh pages. But V8
// frees such strings only in full collections, which it starts for every 64 MiB of them, and
// those cost more as its heap grows. Decoding 1 MB of multilingual text in a loop that yields
// between calls, mean MB/s, external against copied: 460-630 against ~250 with a small heap,
// 155 against 210-310 with 300 MB of live objects, 50-60 against 175-190 with 1 GB
// (TextDecoder: 150-230). So texts are copied once the heap holds more than
// EXTERNAL_DECODE_HEAP. Decodes of fewer than EXTERNAL_DECODE_IDS ids (rarely 64 KiB) are
// copied without asking the heap (~0.5 us).
const EXTERNAL_DECODE_IDS = 8192;
const EXTERNAL_DECODE_HEAP = 256 * 2 ** 20;
// encodeBatch/encodeAsync encode texts of up to this many units in all (UTF-16 units of
// strings, bytes of Uint8Arrays) on the calling thread: a round trip through libuv's pool
// costs ~100 us on this project's VMs (fs.promises.stat alike), ~25x the encode of a
// 100-character message. 2048 units of text not seen before take ~20 us in English and
// ~70-90 us (p99 190-280) in the UDHR's languages; one run of 2048 random letters ~0.3 ms.
const INLINE_BATCH_UNITS = 2048;

/**
 * How much of `bytes` a streaming UTF-8 decoder (WHATWG, as TextDecoder with
 * { stream: true }) decodes at once: all of it but a trailing sequence that
 * is valid so far and incomplete (at most 3 bytes), which it keeps for the
 * next chunk. Decoding the rest in one go gives the same text.
 */
function wholeCharsLength(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let back = 1; back <= 3 && back <= n; back++) {
    const lead = bytes[n - back]!;
    if (lead < 0x80) return n;
    if (lead < 0xc0) continue; // a continuation byte: its lead is further back
    const need = lead >= 0xc2 && lead <= 0xdf ? 2 : lead >= 0xe0 && lead <= 0xef ? 3 : lead >= 0xf0 && lead <= 0xf4 ? 4 : 0;
    if (need <= back) return n; // complete, or not a lead byte at all
    if (back >= 2) {
      // the byte after the lead has a narrower range for some leads (no overlongs, no surrogates, nothing past U+10FFFF)
      const second = bytes[n - back + 1]!;
      if (second < (lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80) || second > (lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf)) return n;
    }
    return n - back;
  }
  return n;
}
// ignoreBOM keeps a leading U+FEFF: it is text like any other (tiktoken keeps it).
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const strictUtf8 = new TextDecoder('utf-8', { ignoreBOM: true, fatal: true });

function checkText(text: unknown, name = 'text'): TextInput {
  if (typeof text !== 'string' && !(text instanceof Uint8Array))
    throw typeError('ERR_LLMK_BAD_ARGUMENT', `${name} must be a string or a Uint8Array`);
  return text;
}

function concat(parts: Uint32Array[]): Uint32Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint32Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}

function toIds(ids: unknown): Uint32Array {
  if (ids instanceof Uint32Array) return ids;
  if (Array.isArray(ids)) {
    const out = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i++) {
      const v: unknown = ids[i];
      if (!Number.isInteger(v) || (v as number) < 0 || (v as number) > 0xffffffff) throw rangeError('ERR_LLMK_BAD_TOKEN', `ids[${i}] is not a token id: ${String(v)}`);
      out[i] = v as number;
    }
    return out;
  }
  throw typeError('ERR_LLMK_BAD_ARGUMENT', 'ids must be a Uint32Array or an array of token ids');
}

// An id list short enough for Tokenizer.joinTokenTexts, its elements not yet checked.
function isShortIdList(ids: unknown): ids is Uint32Array | readonly unknown[] {
  return (Array.isArray(ids) || ids instanceof Uint32Array) && ids.length <= SHORT_DECODE;
}

// Where the native side writes the ids of a text that has at most 16 of them,
// sliced out here: a typed array of up to 64 bytes lives on V8's heap, with no
// backing store to allocate and later sweep (~35 % of encoding a ten-word string).
const smallIds = new Uint32Array(16);

export class Tokenizer {
  private readonly specials: SpecialTokens;

  private constructor(
    private readonly core: NativeBpeEncoding,
    readonly name: string,
    // Hugging Face tokenizers: added tokens are always extracted, ByteLevel may add a prefix space,
    // SentencePiece-style ones normalize each segment and decode '▁' and <0xXX> tokens.
    private readonly hf?: Pick<HuggingFaceTokenizer, 'addPrefixSpace' | 'normalize' | 'sentencePiece' | 'metaspace'>,
    // The tokenizer.json a Hugging Face tokenizer was loaded from (text or object), or a builder of a trained one's.
    private hfJson?: string | object | (() => object),
  ) {
    this.specials = new SpecialTokens(core.specials);
  }

  /** A built-in encoding: 'r50k_base' (alias 'gpt2'), 'p50k_base', 'cl100k_base', 'o200k_base'. Loaded once, then shared. */
  static fromEncoding(name: EncodingName): Tokenizer {
    if (!(ENCODING_NAMES as readonly string[]).includes(name))
      throw rangeError('ERR_LLMK_UNKNOWN_ENCODING', `unknown encoding '${String(name)}' (built in: ${ENCODING_NAMES.join(', ')})`);
    let tok = cache.get(name);
    if (!tok) {
      const native = loaded().native;
      tok = new Tokenizer(new native.BpeEncoding(readFileSync(encodingFile(name))), name);
      cache.set(name, tok);
    }
    return tok;
  }

  /**
   * A `.tiktoken` rank file (base64 token and rank per line) with its
   * pattern and special tokens, as tiktoken's Encoding(pat_str,
   * mergeable_ranks, special_tokens).
   */
  static fromTiktoken(path: string, options: TiktokenFileOptions): Tokenizer {
    if (typeof path !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', 'path must be a string');
    const o = checkObject<TiktokenFileOptions>(options, 'options');
    if (typeof o.pattern !== 'string') throw typeError('ERR_LLMK_BAD_OPTION', 'options.pattern must be the pre-tokenizer pattern string');
    const specials = checkObject<Record<string, number>>(o.specialTokens, 'options.specialTokens');
    const ranks = parseTiktokenRanks(readFileSync(path, 'utf8'), path);
    const native = loaded().native;
    return new Tokenizer(new native.BpeEncoding(encodingData(ranks, o.pattern, specials)), o.name ?? path);
  }

  /**
   * A Hugging Face `tokenizer.json` (a path, its JSON text, or the parsed
   * object) with a byte-level BPE model: ByteLevel pre-tokenizer (or Split
   * with the GPT-2 or Llama-3 pattern followed by ByteLevel), merges as "a b"
   * or ["a", "b"], ignore_merges, added tokens. Anything else is rejected
   * with ERR_LLMK_UNSUPPORTED naming the component.
   */
  static fromHuggingFace(pathOrJson: string | object, name?: string): Tokenizer {
    let json: object;
    if (typeof pathOrJson === 'object' && pathOrJson !== null) json = pathOrJson;
    else if (typeof pathOrJson === 'string') {
      const text = pathOrJson.trimStart().startsWith('{') ? pathOrJson : readFileSync(pathOrJson, 'utf8');
      try {
        json = JSON.parse(text) as object;
      } catch (e) {
        throw rangeError('ERR_LLMK_BAD_ENCODING', `tokenizer.json is not valid JSON: ${(e as Error).message}`);
      }
    } else throw typeError('ERR_LLMK_BAD_ARGUMENT', 'pathOrJson must be a path, JSON text or an object');
    const parsed = parseHuggingFace(json as Record<string, unknown>);
    const native = loaded().native;
    const label = name ?? (typeof pathOrJson === 'string' && !pathOrJson.trimStart().startsWith('{') ? pathOrJson : 'tokenizer.json');
    return new Tokenizer(new native.BpeEncoding(parsed.data), label, parsed, typeof pathOrJson === 'string' && pathOrJson.trimStart().startsWith('{') ? pathOrJson : json);
  }

  /**
   * Trains a byte-level BPE tokenizer off the main thread, merge for merge as
   * Hugging Face's BpeTrainer with a ByteLevel pre-tokenizer. `source`: an
   * array of strings (each one sequence), { files } (each line one sequence,
   * as tokenizers' train(files)) or an async iterable of strings.
   *
   * @example
   *   const tok = await Tokenizer.train(texts, { vocabSize: 8000, specialTokens: ['<|endoftext|>'] });
   */
  static async train(source: TrainSource, options?: TrainOptions): Promise<Tokenizer> {
    const trained = await trainBpe(source, options);
    return new Tokenizer(new (loaded().native.BpeEncoding)(trained.data), 'trained', trained.raw ? undefined : { addPrefixSpace: false }, trained.json);
  }

  /**
   * Dynamic batch merging (arXiv 2411.18553): merges, again and again, the
   * adjacent pair most frequent across the whole batch (at least twice; ties
   * to the pair seen first, sequence by sequence, left to right) into a new
   * batch-local token, left to right without overlap, while the merged text
   * stays inside one boundary unit: 'pretoken' (default; one pre-token of this
   * tokenizer's pattern) or 'word' (no whitespace after the first
   * non-whitespace character unless all whitespace, never two newlines).
   * New ids start at vocabSize; `tokens` lists them with their bytes.
   *
   * @example
   *   const { sequences, tokens } = tok.mergeBatch(batch, { maxMerges: 64, boundary: 'word' });
   */
  mergeBatch(
    batch: readonly (Uint32Array | readonly number[])[],
    options?: { maxMerges?: number; boundary?: 'pretoken' | 'word' },
  ): { sequences: Uint32Array[]; tokens: { id: number; left: number; right: number; bytes: Uint8Array }[] } {
    if (!Array.isArray(batch)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'batch must be an array of token-id sequences');
    const o = checkObject<{ maxMerges?: number; boundary?: 'pretoken' | 'word' }>(options, 'options');
    const maxMerges = o.maxMerges === undefined ? 256 : checkInt(o.maxMerges, 'maxMerges', 0, 1 << 24);
    const boundary = checkChoice(o.boundary, 'boundary', ['pretoken', 'word'] as const, 'pretoken');
    const r = this.core.mergeBatch(batch.map(toIds), maxMerges, boundary);
    const base = this.vocabSize;
    return {
      sequences: r.sequences,
      tokens: r.tokens.map((bytes, i) => ({ id: base + i, left: r.merges[2 * i]!, right: r.merges[2 * i + 1]!, bytes })),
    };
  }

  /** The tokenizer.json text of a trained or Hugging Face tokenizer (what tokenizers' Tokenizer.fromString reads). */
  toHuggingFace(): string {
    if (this.hfJson === undefined)
      throw rangeError('ERR_LLMK_UNSUPPORTED', `toHuggingFace: ${this.name} is not a Hugging Face or trained tokenizer (use toTiktoken)`);
    if (typeof this.hfJson === 'function') this.hfJson = this.hfJson();
    if (typeof this.hfJson !== 'string') this.hfJson = JSON.stringify(this.hfJson);
    return this.hfJson;
  }

  /**
   * A .tiktoken rank file (base64 token, space, rank = id, one per line; special
   * tokens left out, as tiktoken keeps them apart). Needs all 256 single bytes in
   * the vocabulary. tiktoken merges by the rank of the merged token rather than
   * by a merge list, so a trained tokenizer loaded this way can split a rare
   * word differently from its merges.
   */
  toTiktoken(): string {
    const specials = new Set(this.specials.ids.values());
    const lines: string[] = [];
    const singles = new Set<number>();
    for (let id = 0; id < this.vocabSize; id++) {
      if (specials.has(id)) continue;
      const bytes = this.core.idToBytes(id);
      if (!bytes) continue;
      if (bytes.length === 1) singles.add(bytes[0]!);
      lines.push(`${Buffer.from(bytes).toString('base64')} ${id}`);
    }
    if (singles.size !== 256)
      throw rangeError('ERR_LLMK_UNSUPPORTED', `toTiktoken: the vocabulary lacks ${256 - singles.size} of the 256 single bytes tiktoken needs (train with initialAlphabet: true)`);
    return lines.join('\n') + '\n';
  }

  /** The tokenizer of an OpenAI model name, as tiktoken's encoding_for_model ('gpt-4o' → o200k_base). */
  static forModel(model: string): Tokenizer {
    return Tokenizer.fromEncoding(encodingNameForModel(model));
  }

  get vocabSize(): number {
    return this.core.vocabSize;
  }

  /** Special tokens and their ids. */
  get specialTokens(): Record<string, number> {
    return Object.fromEntries(this.specials.ids);
  }

  /** Ids with tiktoken's special-token rules (disallowed special text throws ERR_LLMK_DISALLOWED_SPECIAL). */
  encode(text: TextInput, options?: SpecialOptions): Uint32Array {
    checkText(text);
    const parts: Uint32Array[] = [];
    const plan = this.specials.plan(checkObject<SpecialOptions>(options, 'options'));
    this.segments(text, plan, (seg) => parts.push(this.ordinaryIds(seg)), (id) => parts.push(Uint32Array.of(id)));
    return concat(parts);
  }

  /**
   * The ordinary segments (rewritten as a Hugging Face tokenizer's normalizer and
   * pre-tokenizer do) and the special-token ids of a text, in order.
   */
  private segments(text: TextInput, plan: SpecialPlan, onText: (segment: TextInput) => void, onSpecial: (id: number) => void): void {
    if (!this.hf) {
      if (this.specials.ids.size === 0) return onText(text);
      if (typeof text === 'string') return this.specials.split(text, plan, onText, onSpecial);
      return this.specials.splitBytes(text, plan, onText, onSpecial);
    }
    // tokenizers takes text: bytes become text as TextDecoder makes it (U+FFFD for what is not UTF-8).
    const str = typeof text === 'string' ? text : utf8.decode(text);
    const { normalize, addPrefixSpace, metaspace } = this.hf;
    // tokenizers: normalizer first, then the pre-tokenizer's own rewriting (ByteLevel's
    // add_prefix_space, Metaspace's replacement and prefix), per segment.
    let first = true;
    this.specials.split(
      str,
      plan,
      (seg) => {
        const n = normalize ? normalize(seg) : seg;
        onText(metaspace ? metaspace(n, first) : addPrefixSpace && !n.startsWith(' ') ? ' ' + n : n);
        first = false;
      },
      (id) => {
        first = false; // Metaspace 'first' prepends only to a segment at the start of the text
        onSpecial(id);
      },
    );
  }

  /**
   * encode() of every text, off the main thread, texts spread over the thread
   * pool. Resolves to one Uint32Array per text. Text i goes to the pool's slot
   * i % threads while the slots keep pace (each slot keeps its caches between
   * calls, so a batch of the same or similar texts starts warm); a slot done
   * early takes what is left of the others'. A batch of up to 2048 units in all
   * (a chat message, say) is encoded on the calling thread instead, before the
   * promise settles: handing it to the pool would cost more than encoding it.
   */
  async encodeBatch(texts: readonly TextInput[], options?: BatchOptions): Promise<Uint32Array[]> {
    if (!Array.isArray(texts)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'texts must be an array of strings or Uint8Arrays');
    const o = checkObject<BatchOptions>(options, 'options');
    const threads = checkThreads(o.threads);
    // Special tokens are found here; the ordinary segments of all texts go to the pool as one batch.
    const specials = this.specials.plan(o);
    // Per text: the index of its one segment (the common case), or its parts in order.
    const segments: TextInput[] = [];
    const plans = texts.map((text, i): number | (number | { segment: number })[] => {
      checkText(text, `texts[${i}]`);
      const parts: (number | { segment: number })[] = [];
      this.segments(text, specials, (seg) => parts.push({ segment: segments.push(seg) - 1 }), (id) => parts.push(id));
      return parts.length === 1 && typeof parts[0] !== 'number' ? parts[0]!.segment : parts;
    });
    const encoded = await withAbort(o.signal, (cancel) =>
      segments.reduce((units, s) => units + s.length, 0) <= INLINE_BATCH_UNITS
        ? Promise.resolve(segments.map((s) => this.ordinaryIds(s)))
        : this.encodeOnPool(segments, threads, cancel),
    );
    return plans.map((plan) =>
      typeof plan === 'number' ? encoded[plan]! : concat(plan.map((p) => (typeof p === 'number' ? Uint32Array.of(p) : encoded[p.segment]!))),
    );
  }

  private async encodeOnPool(segments: TextInput[], threads: number | undefined, cancel: NativeCancelToken | undefined): Promise<Uint32Array[]> {
    const { each, small } = await this.core.encodeOrdinaryBatchAsync(segments, { ...(threads ? { threads } : {}), ...(cancel ? { cancel } : {}) });
    // Short results were sent in one array: slices of up to 64 bytes live on V8's heap.
    let at = 0;
    return each.map((ids) => (typeof ids === 'number' ? small.slice(at, (at += ids)) : ids));
  }

  /** encode() off the main thread (one thread: BPE of one text is sequential); short texts as encodeBatch says. */
  async encodeAsync(text: TextInput, options?: SpecialOptions & { signal?: AbortSignal }): Promise<Uint32Array> {
    return (await this.encodeBatch([text], { ...checkObject<object>(options, 'options'), threads: 1 }))[0];
  }

  /**
   * Ids with special-token text encoded as ordinary text. For a Hugging Face
   * tokenizer, exactly tokenizers' encode(text, null, { addSpecialTokens:
   * false }): added tokens are still recognised, no template, no BOS (so it
   * equals encode(text, { allowedSpecial: 'all' })).
   */
  encodeOrdinary(text: TextInput): Uint32Array {
    checkText(text);
    if (!this.hf) return this.ordinaryIds(text);
    return this.encode(text, { allowedSpecial: 'all', disallowedSpecial: [] });
  }

  private ordinaryIds(text: TextInput): Uint32Array {
    const ids = this.core.encodeOrdinary(text, smallIds);
    return typeof ids === 'number' ? smallIds.slice(0, ids) : ids;
  }

  /** How many ids encode() would return, without materialising them. */
  count(text: TextInput, options?: SpecialOptions): number {
    return this.countUpTo(text, Number.MAX_SAFE_INTEGER, this.specials.plan(checkObject<SpecialOptions>(options, 'options')));
  }

  /** The token count if it is at most `limit`, else false; stops counting once past the limit. */
  isWithinTokenLimit(text: TextInput, limit: number, options?: SpecialOptions): number | false {
    checkInt(limit, 'limit', 0, Number.MAX_SAFE_INTEGER);
    const n = this.countUpTo(text, limit, this.specials.plan(checkObject<SpecialOptions>(options, 'options')));
    return n <= limit ? n : false;
  }

  // Counts like encode(), stopping once past `limit`.
  private countUpTo(text: TextInput, limit: number, plan: SpecialPlan): number {
    checkText(text);
    let n = 0;
    this.segments(text, plan, (seg) => (n += n > limit ? 0 : this.core.countOrdinary(seg, limit - n)), () => (n += 1));
    return n;
  }

  /** The bytes of the ids, concatenated (for SentencePiece-style tokenizers, after their decoder). */
  decodeBytes(ids: Uint32Array | readonly number[]): Uint8Array {
    return this.stripLeadingSpace(this.core.decodeBytes(toIds(ids)), true);
  }

  // tokenizers' Strip decoder (SentencePiece): the space the first token's '▁' became. The
  // other SentencePiece decoders (Replace '▁' → ' ', ByteFallback, Fuse) are in the native
  // decode table, which holds what each token decodes to.
  private stripLeadingSpace<T extends Uint8Array | string>(decoded: T, atStart: boolean): T {
    if (!atStart || !this.hf?.sentencePiece?.stripLeadingSpace) return decoded;
    if (typeof decoded === 'string') return (decoded.startsWith(' ') ? decoded.slice(1) : decoded) as T;
    return (decoded[0] === 0x20 ? decoded.subarray(1) : decoded) as T;
  }

  /**
   * The text of the ids; bytes that are not valid UTF-8 become U+FFFD, as tiktoken's decode
   * (for a SentencePiece model with byte fallback, as its ByteFallback decoder: one U+FFFD for
   * each byte token of a run that is not valid UTF-8).
   */
  decode(ids: Uint32Array | readonly number[]): string {
    if (isShortIdList(ids)) {
      const joined = this.joinTokenTexts(ids);
      if (joined !== undefined) return this.stripLeadingSpace(joined, true);
    }
    const list = toIds(ids);
    const text = this.core.decodeText(list, list.length >= EXTERNAL_DECODE_IDS && getHeapStatistics().used_heap_size < EXTERNAL_DECODE_HEAP);
    if (text !== undefined) return this.stripLeadingSpace(text, true);
    if (this.hf?.sentencePiece?.byteFallback) return this.stripLeadingSpace(this.decodeByteRuns(list), true);
    return utf8.decode(this.decodeBytes(list));
  }

  private byteTokens?: Set<number>;

  // tokenizers' ByteFallback decoder, for text that is not valid UTF-8: runs of byte tokens
  // (<0xXX>) as their UTF-8 text, or one U+FFFD a token where that is not valid.
  private decodeByteRuns(ids: Uint32Array): string {
    this.byteTokens ??= new Set(Array.from({ length: 256 }, (_, b) => this.core.tokenToId(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`)).filter((id) => id >= 0));
    const parts: string[] = [];
    for (let i = 0; i < ids.length; ) {
      const bytesRun = this.byteTokens.has(ids[i]!);
      let j = i + 1;
      while (j < ids.length && this.byteTokens.has(ids[j]!) === bytesRun) j++;
      const bytes = this.core.decodeBytes(ids.subarray(i, j));
      if (!bytesRun) parts.push(utf8.decode(bytes));
      else
        try {
          parts.push(strictUtf8.decode(bytes));
        } catch {
          parts.push('\ufffd'.repeat(j - i));
        }
      i = j;
    }
    return parts.join('');
  }

  // The text of each id met so far whose bytes are whole UTF-8 characters on their own (null
  // where they are not, a hole where the id was not met yet), indexed by id: short decodes and
  // streaming writes join these strings instead of calling the addon (~0.5-2 us a call, most
  // of it making a typed array and a string). An array rather than a Map, and read before the
  // list is copied: a streaming write of one id took 65-75 ns with both, 16-37 without.
  private tokenTexts?: (string | null)[];

  private tokenText(id: number): string | null {
    const texts = (this.tokenTexts ??= new Array<string | null>(this.core.vocabSize));
    let text = texts[id];
    if (text === undefined) {
      text = this.core.decodeText(Uint32Array.of(id)) ?? null; // throws ERR_LLMK_BAD_TOKEN for an unknown id
      if (id < texts.length) texts[id] = text;
    }
    return text;
  }

  // The ids' texts joined, or undefined if one of them is not whole characters alone, or (in
  // an array) not a token id: toIds then says why.
  private joinTokenTexts(list: Uint32Array | readonly unknown[]): string | undefined {
    let out = '';
    for (let i = 0; i < list.length; i++) {
      const id = list[i];
      if (typeof id !== 'number' || id >>> 0 !== id) return undefined;
      const text = this.tokenText(id);
      if (text === null) return undefined;
      out += text;
    }
    return out;
  }

  /** A streaming decoder whose chunks never split a UTF-8 character; each decoder keeps its own state. */
  decoder(): TokenDecoder {
    // Bytes of a character still incomplete, kept for the next write (as a streaming TextDecoder keeps them).
    let pending = new Uint8Array(0);
    let atStart = true;
    const stripsSpace = this.hf?.sentencePiece?.stripLeadingSpace === true;
    return {
      write: (ids) => {
        // Short writes of tokens that are whole characters alone, while nothing is pending: their texts as they are.
        if (isShortIdList(ids) && ids.length > 0 && pending.length === 0 && !(atStart && stripsSpace)) {
          const joined = this.joinTokenTexts(ids);
          if (joined !== undefined) {
            atStart = false;
            return joined;
          }
        }
        const list = toIds(ids);
        if (list.length === 0) return ''; // and the decoder is still at its start
        let bytes = this.stripLeadingSpace(this.core.decodeBytes(list), atStart);
        atStart = false;
        if (pending.length) {
          const joined = new Uint8Array(pending.length + bytes.length);
          joined.set(pending);
          joined.set(bytes, pending.length);
          bytes = joined;
        }
        const whole = wholeCharsLength(bytes);
        pending = bytes.slice(whole);
        return utf8.decode(bytes.subarray(0, whole));
      },
      end: () => {
        const rest = utf8.decode(pending);
        pending = new Uint8Array(0);
        return rest;
      },
    };
  }

  /** The id of a token given as bytes or as its UTF-8 text (special tokens included), or undefined. */
  tokenToId(token: string | Uint8Array): number | undefined {
    checkText(token, 'token');
    // A special token's bytes name it too, as its text does (tiktoken's encode_single_token).
    const special = typeof token === 'string' ? token : this.specials.ids.size && isUtf8(token) ? utf8.decode(token) : undefined;
    if (special !== undefined && this.specials.ids.has(special)) return this.specials.ids.get(special);
    const id = this.core.tokenToId(token);
    return id < 0 ? undefined : id;
  }

  /** The bytes of a token id, or undefined for an id outside the vocabulary. */
  idToBytes(id: number): Uint8Array | undefined {
    return this.core.idToBytes(id) ?? undefined;
  }

  /**
   * Ids plus, for each, the UTF-16 offset in `text` where it starts (a token
   * that starts inside a multi-byte character gets that character's offset).
   */
  encodeWithOffsets(text: string, options?: SpecialOptions): { ids: Uint32Array; offsets: Uint32Array } {
    if (typeof text !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', 'text must be a string');
    // Offsets come from token byte lengths, so the tokens must spell the text exactly.
    if (this.hf && (this.hf.normalize || this.hf.addPrefixSpace || this.hf.sentencePiece || this.hf.metaspace))
      throw rangeError('ERR_LLMK_UNSUPPORTED', `encodeWithOffsets: ${this.name} rewrites its input (normalizer, prefix space or '▁'), so token bytes do not map back to offsets`);
    const ids = this.encode(text, options);
    const offsets = this.core.utf16Offsets(text, ids);
    return { ids, offsets };
  }
}

/** tiktoken's encoding_for_model. */
export function encodingForModel(model: string): Tokenizer {
  return Tokenizer.forModel(model);
}
