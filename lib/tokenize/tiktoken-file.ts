/**
 * Reads a `.tiktoken` rank file (one "base64-token rank" pair per line, as
 * tiktoken's load_tiktoken_bpe), and writes the binary form the native
 * encoder loads (the format scripts/build-encodings.mjs writes for the
 * built-ins).
 */
import { rangeError } from '../errors.js';

const bad = (message: string) => rangeError('ERR_LLMK_BAD_ENCODING', message);

/** Parses the rank file text; throws ERR_LLMK_BAD_ENCODING naming the first bad line. */
export function parseTiktokenRanks(text: string, source: string): Map<number, Buffer> {
  const ranks = new Map<number, Buffer>();
  const seen = new Set<string>();
  const lines = text.split('\n');
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const m = /^([A-Za-z0-9+/]+={0,2}) (\d+)$/.exec(line);
    if (!m) throw bad(`${source}:${i + 1}: expected "<base64 token> <rank>", got ${JSON.stringify(line.slice(0, 60))}`);
    const bytes = Buffer.from(m[1], 'base64');
    const rank = Number(m[2]);
    if (bytes.length === 0 || bytes.length > 255) throw bad(`${source}:${i + 1}: tokens must be 1 to 255 bytes long`);
    if (rank >= 1 << 24) throw bad(`${source}:${i + 1}: rank ${rank} is too large`);
    if (ranks.has(rank)) throw bad(`${source}:${i + 1}: rank ${rank} appears twice`);
    const key = bytes.toString('latin1');
    if (seen.has(key)) throw bad(`${source}:${i + 1}: token ${m[1]} appears twice`);
    seen.add(key);
    ranks.set(rank, bytes);
  });
  if (ranks.size === 0) throw bad(`${source}: no ranks`);
  return ranks;
}

export interface ListedMerges {
  /** bit 0: ignore_merges, 1: character symbols, 2: byte_fallback, 3: fuse_unk */
  flags: number;
  /** The unknown token's id, or undefined. */
  unk: number | undefined;
  /** left, right, result ids, by priority. */
  triples: ArrayLike<number>;
  /** What each id decodes to, where that is not its bytes (SentencePiece decoders); flag bit 4. */
  decoded?: ReadonlyMap<number, Uint8Array>;
}

/**
 * The binary encoding data native/bpe/encoding.cc loads: version 1 (ranks,
 * pattern, special tokens), or version 2 when merges are listed (Hugging Face),
 * then with each id's decoded bytes when they differ from its own (flag 16).
 */
/** Token bytes by id: a map, or packed (id i has lengths[i] bytes, back to back in data; 0: no token). */
export type TokenBytes = ReadonlyMap<number, Uint8Array> | { data: Uint8Array; lengths: ArrayLike<number> };

export function encodingData(ranks: TokenBytes, pattern: string, specials: Record<string, number>, merges?: ListedMerges): Uint8Array {
  const packed = ranks instanceof Map ? undefined : (ranks as { data: Uint8Array; lengths: ArrayLike<number> });
  const map = packed ? undefined : (ranks as ReadonlyMap<number, Uint8Array>);
  let count = 0;
  let tokenBytes = 0;
  if (packed) {
    count = packed.lengths.length;
    tokenBytes = packed.data.length;
    for (let r = 0; r < count; r++) if (packed.lengths[r]! > 255) throw rangeError('ERR_LLMK_UNSUPPORTED', `token ${r} is longer than 255 bytes`);
  } else {
    for (const [r, bytes] of map!) {
      count = Math.max(count, r + 1);
      if (bytes.length > 255) throw rangeError('ERR_LLMK_UNSUPPORTED', `token ${r} is longer than 255 bytes`);
      tokenBytes += bytes.length;
    }
  }
  const pat = Buffer.from(pattern, 'utf8');
  const specialList = Object.entries(specials).map(([text, id]) => {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw rangeError('ERR_LLMK_BAD_OPTION', `special token '${text}' must have an integer id`);
    if (!merges && id < count && (packed ? packed.lengths[id]! > 0 : map!.has(id))) throw rangeError('ERR_LLMK_BAD_OPTION', `special token '${text}' = ${id} is also an ordinary rank`);
    const b = Buffer.from(text, 'utf8');
    if (b.length === 0 || b.length > 0xffff) throw rangeError('ERR_LLMK_BAD_OPTION', 'special tokens must be 1 to 65535 bytes long');
    return [id, b] as const;
  });
  // One buffer written in place: this runs for every trained and loaded tokenizer.
  const size = 8 + 4 + 4 + pat.length + 4 + specialList.reduce((n, [, b]) => n + 6 + b.length, 0) + count + tokenBytes +
    (merges ? 1 + 4 + 4 + merges.triples.length * 4 : 0) +
    (merges?.decoded ? count + [...merges.decoded.values()].reduce((n, b) => n + b.length, 0) : 0);
  const out = Buffer.alloc(size);
  let at = out.write(merges ? 'LLMKBPE\x02' : 'LLMKBPE\x01', 0, 'latin1');
  at = out.writeUInt32LE(count, at);
  at = out.writeUInt32LE(pat.length, at);
  at += pat.copy(out, at);
  at = out.writeUInt32LE(specialList.length, at);
  for (const [id, b] of specialList) {
    at = out.writeUInt32LE(id, at);
    at = out.writeUInt16LE(b.length, at);
    at += b.copy(out, at);
  }
  if (packed) {
    for (let r = 0, from = 0; r < count; r++) {
      const len = packed.lengths[r]!;
      out[at++] = len;
      for (let k = 0; k < len; k++) out[at++] = packed.data[from++]!;
    }
  } else {
    for (let r = 0; r < count; r++) {
      const bytes = map!.get(r);
      out[at++] = bytes ? bytes.length : 0;
      if (bytes) {
        out.set(bytes, at);
        at += bytes.length;
      }
    }
  }
  if (merges) {
    out[at++] = merges.flags | (merges.decoded ? 16 : 0);
    at = out.writeUInt32LE(merges.unk ?? 0xffffffff, at);
    at = out.writeUInt32LE(merges.triples.length / 3, at);
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
    for (let i = 0; i < merges.triples.length; i++, at += 4) view.setUint32(at, merges.triples[i]!, true);
    if (merges.decoded) {
      for (let r = 0; r < count; r++) {
        const bytes = merges.decoded.get(r);
        if (bytes && bytes.length > 255) throw rangeError('ERR_LLMK_UNSUPPORTED', `token ${r} decodes to more than 255 bytes`);
        out[at++] = bytes ? bytes.length : 0;
        if (bytes) {
          out.set(bytes, at);
          at += bytes.length;
        }
      }
    }
  }
  return out;
}
