/**
 * BPE training (Tokenizer.train): pre-tokens are counted natively, in
 * parallel, then merged exactly as Hugging Face's BpeTrainer does over a
 * ByteLevel pre-tokenizer (native/bpe/train.cc); the result is written as a
 * tokenizer.json, which is what the returned Tokenizer loads and what
 * toHuggingFace() gives back.
 *
 * @example
 *   const tok = await Tokenizer.train({ files: ['corpus.txt'] }, { vocabSize: 8000, specialTokens: ['<|endoftext|>'] });
 *   writeFileSync('tokenizer.json', tok.toHuggingFace());
 */
import { readFile } from 'node:fs/promises';
import { withAbort } from '../async.js';
import { rangeError, typeError } from '../errors.js';
import { loaded, type NativeBpeWordCounter } from '../native.js';
import { checkBoolean, checkChoice, checkInt, checkObject, checkThreads } from '../options.js';
import { byteLevelToBytes, bytesToByteLevel } from './byte-level.js';
import { CL100K_PATTERN, GPT2_PATTERN, O200K_PATTERN, SUPERWORD_PATTERN } from './huggingface.js';
import { encodingData } from './tiktoken-file.js';

export type TrainSource = readonly string[] | readonly Uint8Array[] | { files: readonly string[] } | AsyncIterable<string> | AsyncIterable<Uint8Array>;

export interface TrainOptions {
  /** Final vocabulary size, special tokens included (default 30000). */
  vocabSize?: number;
  /**
   * 'bpe' (default): Hugging Face's BpeTrainer, merge for merge. 'bytes' (Binary
   * BPE): raw bytes, no pre-tokenizer and no UTF-8 assumption; the source is
   * Uint8Array chunks (files are cut every `chunkBytes`), each chunk one word.
   * 'superbpe' (SuperBPE): 'bpe' up to `transition`, then the text is split only
   * by the superword pattern and merging goes on across spaces, never into a
   * token holding ": " or more than 4 words.
   */
  mode?: 'bpe' | 'superbpe' | 'bytes';
  /**
   * Mode 'superbpe': vocabulary size where plain BPE stops and merging across
   * spaces begins (default vocabSize / 2). transition >= vocabSize is plain 'bpe'.
   */
  transition?: number;
  /** Mode 'bytes': bytes per chunk (default 8192). */
  chunkBytes?: number;
  /** Mode 'bytes': the longest token, in bytes (default 16). */
  maxTokenBytes?: number;
  /**
   * Pre-tokenizer pattern: 'gpt2' (default; tokenizers' ByteLevel), 'cl100k' or 'o200k' (a Split
   * before ByteLevel), or 'none': no pre-tokenizer, each sequence is one word and merges cross
   * spaces (tokenizers' ByteLevel with use_regex false). Tokens stop at 255 bytes (the
   * encoder's limit; tokenizers has none), which text repeated verbatim can reach here.
   */
  pattern?: 'gpt2' | 'cl100k' | 'o200k' | 'none';
  /** All 256 byte symbols from the start (default true; tokenizers' default trainer has none). */
  initialAlphabet?: boolean;
  /** Stop when the best pair occurs fewer times (default 0). */
  minFrequency?: number;
  /** Special tokens, ids 0..k-1. */
  specialTokens?: readonly string[];
  /** Threads for counting (default setThreads()). */
  threads?: number;
  /** Called with (merges done, merges planned) while training. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

const BATCH = 4096;
const FILE_CHUNK = 1 << 20; // files are counted in line-aligned pieces of about this size, spread over the threads

// How sequences reach the counter: text (each string one sequence; files line
// by line) or, for mode 'bytes', raw chunks of at most `chunkBytes` bytes.
type Feeding = { raw: false } | { raw: true; chunkBytes: number };

/** A file's bytes in line-aligned pieces of about FILE_CHUNK bytes, so that its lines can be counted in parallel. */
export function linePieces(bytes: Uint8Array): Uint8Array[] {
  const pieces: Uint8Array[] = [];
  for (let start = 0; start < bytes.length;) {
    let end = Math.min(bytes.length, start + FILE_CHUNK);
    while (end < bytes.length && bytes[end - 1] !== 0x0a) end++;
    pieces.push(bytes.subarray(start, end));
    start = end;
  }
  return pieces;
}

function splitBytes(bytes: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) out.push(bytes.subarray(at, at + size));
  return out;
}

async function feed(counters: NativeBpeWordCounter[], source: TrainSource, how: Feeding, threads: number | undefined, signal: AbortSignal | undefined): Promise<void> {
  const add = async (texts: (string | Uint8Array)[], lines: boolean) => {
    for (const counter of counters)
      await withAbort(signal, (cancel) => counter.addAsync(texts, { lines, whole: how.raw, ...(threads ? { threads } : {}), ...(cancel ? { cancel } : {}) }));
  };
  const item = (t: unknown, where: string): (string | Uint8Array)[] => {
    if (how.raw) {
      if (!(t instanceof Uint8Array)) throw typeError('ERR_LLMK_BAD_ARGUMENT', `${where} must be a Uint8Array in mode 'bytes'`);
      return splitBytes(t, how.chunkBytes);
    }
    if (typeof t !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', `${where} must be a string`);
    return [t];
  };
  if (Array.isArray(source)) {
    for (let i = 0; i < source.length; i += BATCH)
      await add(source.slice(i, i + BATCH).flatMap((t, j) => item(t, `source[${i + j}]`)), false);
    return;
  }
  if (source !== null && typeof source === 'object' && 'files' in source) {
    if (!Array.isArray(source.files)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'source.files must be an array of paths');
    for (const file of source.files) {
      const bytes = new Uint8Array(await readFile(file));
      if (how.raw) {
        await add(splitBytes(bytes, how.chunkBytes), false);
        continue;
      }
      await add(linePieces(bytes), true);
    }
    return;
  }
  if (source !== null && typeof source === 'object' && Symbol.asyncIterator in source) {
    let batch: (string | Uint8Array)[] = [];
    for await (const t of source as AsyncIterable<unknown>) {
      batch.push(...item(t, 'each item of the source iterable'));
      if (batch.length >= BATCH) {
        await add(batch, false);
        batch = [];
      }
    }
    if (batch.length) await add(batch, false);
    return;
  }
  throw typeError('ERR_LLMK_BAD_ARGUMENT', `source must be an array of ${how.raw ? 'Uint8Array' : 'strings'}, { files: [...] } or an async iterable`);
}

export interface TrainedBpe {
  /** The native encoding's data (tokens by id, merges by priority, pattern, specials). */
  data: Uint8Array;
  /** Trained on raw bytes: encodes any bytes as given, with no text semantics. */
  raw: boolean;
  /** The tokenizer.json content, built on demand. */
  json: () => object;
}

/** Trains a byte-level BPE model. */
export async function trainBpe(source: TrainSource, options?: TrainOptions): Promise<TrainedBpe> {
  const o = checkObject<TrainOptions>(options, 'options');
  const mode = checkChoice(o.mode, 'mode', ['bpe', 'superbpe', 'bytes'] as const, 'bpe');
  const raw = mode === 'bytes';
  const chunkBytes = o.chunkBytes === undefined ? 8192 : checkInt(o.chunkBytes, 'chunkBytes', 1, 1 << 30);
  // Tokens of the native encoder are at most 255 bytes: text modes stop a pair
  // from merging past that (tokenizers has no limit; corpora rarely reach it).
  const maxTokenBytes = o.maxTokenBytes === undefined ? (raw ? 16 : 255) : checkInt(o.maxTokenBytes, 'maxTokenBytes', 2, 255);
  if (!raw && (o.chunkBytes !== undefined || o.maxTokenBytes !== undefined))
    throw rangeError('ERR_LLMK_BAD_OPTION', "chunkBytes and maxTokenBytes apply to mode 'bytes'");
  const pattern = checkChoice(o.pattern, 'pattern', ['gpt2', 'cl100k', 'o200k', 'none'] as const, 'gpt2');
  if (pattern === 'none' && mode !== 'bpe') throw rangeError('ERR_LLMK_BAD_OPTION', "pattern 'none' applies to mode 'bpe'");
  const specials = o.specialTokens ?? [];
  if (!Array.isArray(specials) || specials.some((s) => typeof s !== 'string' || s === '') || new Set(specials).size !== specials.length)
    throw typeError('ERR_LLMK_BAD_OPTION', 'specialTokens must be distinct non-empty strings');
  const vocabSize = o.vocabSize === undefined ? 30000 : checkInt(o.vocabSize, 'vocabSize', 1, 0xffffffff);
  const minFrequency = o.minFrequency === undefined ? 0 : checkInt(o.minFrequency, 'minFrequency', 0, Number.MAX_SAFE_INTEGER);
  const initialAlphabet = checkBoolean(o.initialAlphabet, 'initialAlphabet', true);
  const threads = checkThreads(o.threads);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw typeError('ERR_LLMK_BAD_OPTION', 'onProgress must be a function');

  // SuperBPE's transition; at or past vocabSize there is no second stage and the result is plain 'bpe'.
  const transition = o.transition === undefined ? Math.floor(vocabSize / 2) : checkInt(o.transition, 'transition', 1, 0xffffffff);
  if (mode !== 'superbpe' && o.transition !== undefined) throw rangeError('ERR_LLMK_BAD_OPTION', "transition applies to mode 'superbpe'");
  const superbpe = mode === 'superbpe' && transition < vocabSize;
  const native = loaded().native;
  const counter = new native.BpeWordCounter(pattern === 'none' ? 'whole' : pattern);
  const superwords = superbpe ? new native.BpeWordCounter('superword') : undefined;
  await feed(superwords ? [counter, superwords] : [counter], source, raw ? { raw, chunkBytes } : { raw }, threads, o.signal);

  let last = -1;
  const report = () => {
    const [done, total] = counter.progress();
    if (done !== last) {
      last = done;
      o.onProgress?.(done, total);
    }
  };
  // A special made of ByteLevel characters is reused when a merge spells it, as in tokenizers.
  const specialBytes = specials.map((sp) => byteLevelToBytes(sp) ?? new Uint8Array(0));
  const timer = o.onProgress ? setInterval(report, 50) : undefined;
  let result;
  try {
    result = await withAbort(o.signal, (cancel) =>
      counter.trainAsync({
        vocabSize, minFrequency, initialAlphabet, specialCount: specials.length, byteOrder: raw, maxTokenBytes, transition,
        specials: specialBytes,
        ...(cancel ? { cancel } : {}),
      }, superwords));
  } finally {
    if (timer) clearInterval(timer);
  }
  if (o.onProgress) report();

  // Every id's bytes, packed: the specials (when made of ByteLevel characters), then the trained tokens.
  const lengths = new Uint32Array(specials.length + result.lengths.length);
  specialBytes.forEach((b, id) => (lengths[id] = b.length));
  lengths.set(result.lengths, specials.length);
  const packed = new Uint8Array(specialBytes.reduce((n, b) => n + b.length, 0) + result.tokens.length);
  let at = 0;
  for (const b of specialBytes) {
    packed.set(b, at);
    at += b.length;
  }
  packed.set(result.tokens, at);
  const whole = raw || pattern === 'none';
  const patternText = whole ? '' : superbpe ? SUPERWORD_PATTERN : pattern === 'gpt2' ? GPT2_PATTERN : pattern === 'cl100k' ? CL100K_PATTERN : O200K_PATTERN;
  const data = encodingData({ data: packed, lengths }, patternText, Object.fromEntries(specials.map((sp, id) => [sp, id])), { flags: 0, unk: undefined, triples: result.merges });
  // The tokenizer.json, built only when asked for.
  const json = () => {
    const names: string[] = [...specials];
    for (let k = 0, from = 0; k < result.lengths.length; from += result.lengths[k]!, k++)
      names.push(bytesToByteLevel(result.tokens.subarray(from, from + result.lengths[k]!)));
    const merges: [string, string][] = [];
    for (let i = 0; i < result.merges.length; i += 3) merges.push([names[result.merges[i]!]!, names[result.merges[i + 1]!]!]);
    // Raw bytes and pattern 'none': ByteLevel only maps bytes to characters (use_regex false), no split.
    const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: !whole && !superbpe && pattern === 'gpt2' };
    return {
      version: '1.0',
      truncation: null,
      padding: null,
      added_tokens: specials.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true })),
      normalizer: null,
      pre_tokenizer: whole || byteLevel.use_regex ? byteLevel : {
        type: 'Sequence',
        pretokenizers: [{ type: 'Split', pattern: { Regex: patternText }, behavior: 'Isolated', invert: false }, byteLevel],
      },
      post_processor: null,
      decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
        fuse_unk: false, byte_fallback: false, ignore_merges: false,
        vocab: Object.fromEntries(names.map((n, id) => [n, id])),
        merges,
      },
    };
  };
  return { data, raw, json };
}
