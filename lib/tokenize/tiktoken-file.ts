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
  triples: number[];
}

/**
 * The binary encoding data native/bpe/encoding.cc loads: version 1 (ranks,
 * pattern, special tokens), or version 2 when merges are listed (Hugging Face).
 */
export function encodingData(ranks: Map<number, Buffer>, pattern: string, specials: Record<string, number>, merges?: ListedMerges): Uint8Array {
  let count = 0;
  for (const r of ranks.keys()) count = Math.max(count, r + 1);
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
  const parts: Buffer[] = [Buffer.from(merges ? 'LLMKBPE\x02' : 'LLMKBPE\x01', 'latin1'), u32(count)];
  const pat = Buffer.from(pattern, 'utf8');
  parts.push(u32(pat.length), pat, u32(Object.keys(specials).length));
  for (const [text, id] of Object.entries(specials)) {
    if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw rangeError('ERR_LLMK_BAD_OPTION', `special token '${text}' must have an integer id`);
    if (!merges && id < count && ranks.has(id)) throw rangeError('ERR_LLMK_BAD_OPTION', `special token '${text}' = ${id} is also an ordinary rank`);
    const b = Buffer.from(text, 'utf8');
    if (b.length === 0 || b.length > 0xffff) throw rangeError('ERR_LLMK_BAD_OPTION', 'special tokens must be 1 to 65535 bytes long');
    parts.push(u32(id), u16(b.length), b);
  }
  for (let r = 0; r < count; r++) {
    const bytes = ranks.get(r);
    if (bytes && bytes.length > 255) throw rangeError('ERR_LLMK_UNSUPPORTED', `token ${r} is longer than 255 bytes`);
    parts.push(Buffer.from([bytes ? bytes.length : 0]));
    if (bytes) parts.push(bytes);
  }
  if (merges) {
    parts.push(Buffer.from([merges.flags]), u32(merges.unk ?? 0xffffffff), u32(merges.triples.length / 3));
    const t = Buffer.alloc(merges.triples.length * 4);
    merges.triples.forEach((v, i) => t.writeUInt32LE(v, i * 4));
    parts.push(t);
  }
  return Buffer.concat(parts);
}
