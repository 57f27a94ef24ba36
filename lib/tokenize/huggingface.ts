/**
 * Loads a Hugging Face `tokenizer.json` whose model is byte-level BPE (GPT-2,
 * Llama-3 and the like) into the binary form the native encoder reads:
 * vocabulary bytes by id, the merges by priority, the pre-tokenizer pattern
 * and the added tokens. Every component is checked against what is
 * supported; anything else is rejected with ERR_LLMK_UNSUPPORTED naming it.
 */
import { rangeError } from '../errors.js';
import { byteLevelToBytes } from './byte-level.js';
import { encodingData } from './tiktoken-file.js';

// tokenizers' ByteLevel regex (GPT-2's), the cl100k-family Split pattern (Llama-3) and o200k's.
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
export const CL100K_PATTERN = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
// SuperBPE's superword pattern (a Split, behavior Isolated: words and their spaces stay together).
export const SUPERWORD_PATTERN = '\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]{2,}[\\r\\n/]*| +(?!\\S)';
export const O200K_PATTERN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

const unsupported = (what: string) => rangeError('ERR_LLMK_UNSUPPORTED', `tokenizer.json: unsupported ${what}`);
const malformed = (what: string) => rangeError('ERR_LLMK_BAD_ENCODING', `tokenizer.json: ${what}`);

function tokenBytes(token: string): Buffer {
  const bytes = byteLevelToBytes(token);
  if (!bytes) throw unsupported(`vocabulary entry ${JSON.stringify(token)} (not a byte-level token)`);
  return bytes;
}

interface Json {
  [key: string]: unknown;
}

export interface HuggingFaceTokenizer {
  data: Uint8Array;
  /** Added tokens (special or not): tokenizers extracts them from the text before pre-tokenizing. */
  addedTokens: Record<string, number>;
  /** ByteLevel add_prefix_space: a space is put before text that does not start with one. */
  addPrefixSpace: boolean;
  /** The normalizer, applied to each segment between added tokens. */
  normalize?: (s: string) => string;
  /** Metaspace's per-segment transform (first: the segment starts the text). */
  metaspace?: (s: string, first: boolean) => string;
  /** SentencePiece-style models' decoder: the marker for a space ('▁'), whether one leading space is stripped, whether <0xXX> tokens become bytes. */
  sentencePiece?: { marker: string; stripLeadingSpace: boolean; byteFallback: boolean };
}

const none = (v: unknown) => v === null || v === undefined;

function prePattern(pre: Json | null | undefined): { pattern: string; addPrefixSpace: boolean } {
  if (!pre) throw unsupported('pre_tokenizer: none (byte-level BPE needs ByteLevel)');
  if (pre.type === 'ByteLevel') {
    // Without its regex, ByteLevel only maps bytes to characters: the text is one piece (raw-bytes models).
    if (pre.use_regex === false) return { pattern: '', addPrefixSpace: pre.add_prefix_space === true };
    return { pattern: GPT2_PATTERN, addPrefixSpace: pre.add_prefix_space === true };
  }
  if (pre.type === 'Sequence' && Array.isArray(pre.pretokenizers) && pre.pretokenizers.length === 2) {
    const [split, byteLevel] = pre.pretokenizers as Json[];
    const regex = (split.pattern as Json | undefined)?.Regex;
    if (split.type !== 'Split' || typeof regex !== 'string') throw unsupported(`pre_tokenizer ${JSON.stringify(split).slice(0, 120)}`);
    if (regex !== CL100K_PATTERN && regex !== GPT2_PATTERN && regex !== O200K_PATTERN && regex !== SUPERWORD_PATTERN)
      throw unsupported(`Split pattern ${JSON.stringify(regex)} (supported: the GPT-2, cl100k/Llama-3, o200k and SuperBPE superword patterns)`);
    if (split.behavior !== 'Isolated' || split.invert === true) throw unsupported(`Split behavior ${String(split.behavior)}${split.invert ? ' inverted' : ''}`);
    if (byteLevel.type !== 'ByteLevel' || byteLevel.use_regex !== false) throw unsupported(`pre_tokenizer after Split: ${JSON.stringify(byteLevel).slice(0, 120)}`);
    return { pattern: regex, addPrefixSpace: byteLevel.add_prefix_space === true };
  }
  throw unsupported(`pre_tokenizer ${String(pre.type)}`);
}

// Buffer's 'utf16le' bytes are read below as this machine's 16-bit units.
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const isOneUnit = (s: string) => s.length === 1 && (s.charCodeAt(0) < 0xd800 || s.charCodeAt(0) > 0xdfff);

/**
 * s.replaceAll(from, to). One code unit for another (Llama-2's ' ' -> '▁')
 * in a long text is replaced in its UTF-16 units: V8's replaceAll takes ~40
 * ms on a MiB of multilingual text, the units ~4.
 */
function replaceAll(from: string, to: string): (s: string) => string {
  if (!isOneUnit(from) || !isOneUnit(to) || !littleEndian) return (s) => s.replaceAll(from, to);
  const a = from.charCodeAt(0), b = to.charCodeAt(0);
  return (s) => {
    if (s.length < 4096) return s.replaceAll(from, to);
    const buf = Buffer.from(s, 'utf16le');
    const units = new Uint16Array(buf.buffer, buf.byteOffset, buf.length >> 1);
    for (let i = 0; i < units.length; i++) if (units[i] === a) units[i] = b;
    return buf.toString('utf16le');
  };
}

/** The normalizer as a function applied to each segment between added tokens, or undefined for none. */
function normalizerOf(norm: Json | null | undefined): ((s: string) => string) | undefined {
  if (!norm) return undefined;
  const steps = norm.type === 'Sequence' ? (norm.normalizers as Json[]) : [norm];
  const fns = steps.map((step): ((s: string) => string) => {
    switch (step.type) {
      case 'NFC':
      case 'NFD':
      case 'NFKC':
      case 'NFKD':
        return (s) => s.normalize(step.type as string);
      case 'Prepend':
        if (typeof step.prepend !== 'string') break;
        return (s) => (s.length ? (step.prepend as string) + s : s);
      case 'Replace': {
        const from = (step.pattern as Json | undefined)?.String;
        if (typeof from !== 'string' || typeof step.content !== 'string') break;
        return replaceAll(from, step.content);
      }
    }
    throw unsupported(`normalizer ${String(step.type)}${step.type === 'Replace' ? ' with a regex pattern' : ''}`);
  });
  return (s) => fns.reduce((acc, f) => f(acc), s);
}

/**
 * SentencePiece-style models (Llama-2): no pre-tokenizer, the vocabulary is
 * text, and the decoder is Replace('▁' → ' '), ByteFallback, Fuse, Strip.
 */
function sentencePieceDecoder(json: Json): NonNullable<HuggingFaceTokenizer['sentencePiece']> {
  const decoder = json.decoder as Json | null | undefined;
  const decoders = decoder?.type === 'Sequence' ? (decoder.decoders as Json[]) : decoder ? [decoder] : [];
  let marker = '';
  let stripLeadingSpace = false;
  let byteFallback = false;
  for (const d of decoders) {
    const from = (d.pattern as Json | undefined)?.String;
    if (d.type === 'Replace' && typeof from === 'string' && d.content === ' ') marker = from;
    else if (d.type === 'Strip' && d.content === ' ' && d.start === 1 && d.stop === 0) stripLeadingSpace = true;
    else if (d.type === 'Metaspace' && (d.replacement ?? '▁') === '▁') {
      marker = '▁';
      const scheme = d.prepend_scheme ?? (d.add_prefix_space === false ? 'never' : 'always');
      stripLeadingSpace = scheme !== 'never';
    } else if (d.type === 'ByteFallback') byteFallback = true;
    else if (d.type !== 'Fuse') throw unsupported(`decoder ${String(d.type)}`);
  }
  return { marker, stripLeadingSpace, byteFallback };
}

/**
 * What the SentencePiece decoders make of each token: '▁' (the marker) as a
 * space, a byte-fallback token <0xXX> as its byte (Fuse and Strip act on the
 * whole text). The native decoder copies these instead of the tokens' bytes.
 */
function sentencePieceDecoded(vocab: Record<string, number>, sp: NonNullable<HuggingFaceTokenizer['sentencePiece']>): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>();
  for (const [token, id] of Object.entries(vocab)) {
    const fallback = sp.byteFallback ? /^<0x([0-9A-F]{2})>$/.exec(token) : null;
    out.set(id, fallback ? Uint8Array.of(parseInt(fallback[1]!, 16)) : Buffer.from(sp.marker ? token.replaceAll(sp.marker, ' ') : token, 'utf8'));
  }
  return out;
}

/**
 * tokenizers' Metaspace pre-tokenizer: spaces become the replacement (only
 * '▁' is supported), which is put before the first segment ('first') or
 * every segment ('always') that lacks it; with split, pieces start at each
 * replacement. Returns the per-segment transform and the native pattern.
 */
function metaspaceOf(pre: Json): { transform: (s: string, first: boolean) => string; pattern: string } {
  const replacement = pre.replacement ?? '▁';
  if (replacement !== '▁') throw unsupported(`Metaspace replacement ${JSON.stringify(replacement)} (only '▁')`);
  const scheme = pre.prepend_scheme ?? (pre.add_prefix_space === false ? 'never' : 'always');
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never') throw unsupported(`Metaspace prepend_scheme ${String(scheme)}`);
  return {
    transform: (s, first) => {
      const r = s.replaceAll(' ', '▁');
      return (scheme === 'always' || (scheme === 'first' && first)) && r.length && !r.startsWith('▁') ? '▁' + r : r;
    },
    pattern: pre.split === false ? '' : '\u2581',
  };
}

export function parseHuggingFace(json: Json): HuggingFaceTokenizer {
  const model = json.model as Json | undefined;
  if (!model || model.type !== 'BPE') throw unsupported(`model ${String(model?.type)} (supported: BPE)`);
  const normalize = normalizerOf(json.normalizer as Json | null);
  const pre = json.pre_tokenizer as Json | null | undefined;
  const metaspace = pre?.type === 'Metaspace' ? metaspaceOf(pre) : undefined;
  let sentencePiece: HuggingFaceTokenizer['sentencePiece'];
  if (metaspace || none(pre)) {
    sentencePiece = sentencePieceDecoder(json);
  }
  const { pattern, addPrefixSpace } = metaspace
    ? { pattern: metaspace.pattern, addPrefixSpace: false }
    : sentencePiece
      ? { pattern: '', addPrefixSpace: false }
      : prePattern(pre);
  const decoder = json.decoder as Json | null | undefined;
  if (!sentencePiece && decoder && decoder.type !== 'ByteLevel') throw unsupported(`decoder ${String(decoder.type)} with a ByteLevel pre-tokenizer`);
  if (!none(model.dropout)) throw unsupported('BPE dropout');
  if (model.byte_fallback === true && !sentencePiece) throw unsupported('byte_fallback with a byte-level vocabulary');
  if (!none(model.continuing_subword_prefix) && model.continuing_subword_prefix !== '') throw unsupported('continuing_subword_prefix');
  if (!none(model.end_of_word_suffix) && model.end_of_word_suffix !== '') throw unsupported('end_of_word_suffix');

  const vocab = model.vocab as Record<string, number> | undefined;
  if (!vocab || typeof vocab !== 'object') throw malformed('model.vocab is missing');
  const bytesById = new Map<number, Buffer>();
  // The merges look tokens up by string below: a Map is ~3x faster there than
  // the parsed object (Llama-3: 840k lookups).
  const idOf = new Map<string, number>();
  for (const [token, id] of Object.entries(vocab)) {
    idOf.set(token, id);
    if (!Number.isInteger(id) || id < 0 || id >= 1 << 24) throw malformed(`vocabulary id of ${JSON.stringify(token)} is not a valid id`);
    const bytes = sentencePiece ? Buffer.from(token, 'utf8') : tokenBytes(token);
    if (bytesById.has(id)) throw malformed(`id ${id} appears twice in the vocabulary`);
    bytesById.set(id, bytes);
  }
  const merges = model.merges as unknown[] | undefined;
  if (!Array.isArray(merges)) throw malformed('model.merges is missing');
  // A plain loop into a typed array: split() and push() cost 2.5x more (Llama-3: 280k merges).
  const triples = new Uint32Array(3 * merges.length);
  for (let k = 0, at = 0; k < merges.length; k++) {
    const m = merges[k];
    let a: unknown, b: unknown;
    if (typeof m === 'string') {
      const space = m.indexOf(' ');
      if (space >= 0 && m.indexOf(' ', space + 1) < 0) (a = m.slice(0, space)), (b = m.slice(space + 1));
    } else if (Array.isArray(m) && m.length === 2) {
      [a, b] = m as unknown[];
    }
    if (typeof a !== 'string' || typeof b !== 'string') throw malformed(`merges[${k}] must be "a b" or ["a", "b"]`);
    const left = idOf.get(a);
    const right = idOf.get(b);
    const result = idOf.get(a + b);
    if (left === undefined || right === undefined || result === undefined)
      throw malformed(`merges[${k}] (${JSON.stringify([a, b])}) uses a token that is not in the vocabulary`);
    triples[at++] = left;
    triples[at++] = right;
    triples[at++] = result;
  }
  const unk = typeof model.unk_token === 'string' ? idOf.get(model.unk_token) : undefined;
  if (typeof model.unk_token === 'string' && unk === undefined) throw malformed(`unk_token ${JSON.stringify(model.unk_token)} is not in the vocabulary`);

  const addedTokens: Record<string, number> = {};
  for (const t of (json.added_tokens as Json[] | undefined) ?? []) {
    if (typeof t.content !== 'string' || !Number.isInteger(t.id)) throw malformed('added_tokens entries need content and id');
    if (t.single_word || t.lstrip || t.rstrip) throw unsupported(`added token ${JSON.stringify(t.content)} with single_word/lstrip/rstrip`);
    addedTokens[t.content] = t.id as number;
  }

  const flags = (model.ignore_merges === true ? 1 : 0) | (sentencePiece ? 2 : 0) | (model.byte_fallback === true ? 4 : 0) | (model.fuse_unk === true ? 8 : 0);
  const decoded = sentencePiece ? sentencePieceDecoded(vocab, sentencePiece) : undefined;
  const data = encodingData(bytesById, pattern, addedTokens, { flags, unk, triples, decoded });
  return { data, addedTokens, addPrefixSpace, normalize, sentencePiece, metaspace: metaspace?.transform };
}
