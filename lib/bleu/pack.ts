/**
 * Input normalisation: candidates and references arrive either as arrays of
 * sequences or packed (one flat Uint32Array plus offsets), and leave packed,
 * which is what the native kernel reads without copying.
 */
import { rangeError, typeError } from '../errors.js';

/** A sequence of token ids: a Uint32Array, or an array of integers in [0, 2^32). */
export type TokenSeq = Uint32Array | readonly number[];

/** Many sequences in one buffer: sequence i is tokens[offsets[i] .. offsets[i+1]). */
export interface PackedSequences {
  tokens: Uint32Array;
  offsets: Uint32Array;
}

/**
 * Packed references: candidate i's references are sequences
 * groups[i] .. groups[i+1]-1 of `tokens`/`offsets`.
 */
export interface PackedReferences extends PackedSequences {
  groups: Uint32Array;
}

export type Candidates = readonly TokenSeq[] | PackedSequences;
/** references[i] lists the references of candidate i (at least one). */
export type References = readonly (readonly TokenSeq[])[] | PackedReferences;

export interface PackedBatch {
  candTokens: Uint32Array;
  candOffsets: Uint32Array;
  refTokens: Uint32Array;
  refOffsets: Uint32Array;
  refGroups: Uint32Array;
  count: number;
}

function isPacked(x: unknown): x is PackedSequences {
  return typeof x === 'object' && x !== null && !Array.isArray(x) && 'tokens' in x && 'offsets' in x;
}

function checkU32(x: unknown, name: string): Uint32Array {
  if (!(x instanceof Uint32Array)) throw typeError('ERR_LLMK_BAD_ARGUMENT', `${name} must be a Uint32Array`);
  return x;
}

function seqLength(seq: unknown, name: string): number {
  if (seq instanceof Uint32Array) return seq.length;
  if (!Array.isArray(seq)) throw typeError('ERR_LLMK_BAD_ARGUMENT', `${name} must be a Uint32Array or an array of token ids`);
  return seq.length;
}

function copySeq(seq: TokenSeq, into: Uint32Array, at: number, name: string): void {
  if (seq instanceof Uint32Array) {
    into.set(seq, at);
    return;
  }
  for (let k = 0; k < seq.length; k++) {
    const t = seq[k];
    if (!Number.isInteger(t) || t < 0 || t > 0xffffffff)
      throw rangeError('ERR_LLMK_BAD_ARGUMENT', `${name}[${k}] must be an integer token id in [0, 2^32), got ${String(t)}`);
    into[at + k] = t;
  }
}

// Packing buffers reused by synchronous calls, which hand them to the kernel
// and drop them before returning: a fresh megabyte-sized array costs its
// zeroing and a page fault every 4 KiB (~0.5 ms of a 6 ms BLEU call). Kept
// only up to 1 Mi tokens each (4 MiB); asynchronous calls always get their own.
const SCRATCH_LIMIT = 1 << 20;
const scratch: Record<string, Uint32Array> = {};

function tokenBuffer(total: number, name: string, reuse: boolean): Uint32Array {
  if (!reuse || total > SCRATCH_LIMIT) return new Uint32Array(total);
  const held = scratch[name];
  if (held && held.length >= total) return held.subarray(0, total);
  const fresh = new Uint32Array(Math.min(SCRATCH_LIMIT, Math.max(total, 2 * (held?.length ?? 0))));
  scratch[name] = fresh;
  return fresh.subarray(0, total);
}

function packList(list: readonly TokenSeq[], name: string, reuse: boolean): PackedSequences {
  let total = 0;
  for (let i = 0; i < list.length; i++) total += seqLength(list[i], `${name}[${i}]`);
  if (total > 0xffffffff) throw rangeError('ERR_LLMK_BAD_SHAPE', `${name} hold more than 2^32-1 tokens`);
  const tokens = tokenBuffer(total, name, reuse);
  const offsets = new Uint32Array(list.length + 1);
  let at = 0;
  for (let i = 0; i < list.length; i++) {
    copySeq(list[i], tokens, at, `${name}[${i}]`);
    at += list[i].length;
    offsets[i + 1] = at;
  }
  return { tokens, offsets };
}

/**
 * `reuse`: pack into buffers shared by synchronous calls (the result must not
 * outlive the native call it is given to).
 */
export function packBatch(candidates: Candidates, references: References, reuse = false): PackedBatch {
  let cand: PackedSequences;
  if (isPacked(candidates)) {
    cand = { tokens: checkU32(candidates.tokens, 'candidates.tokens'), offsets: checkU32(candidates.offsets, 'candidates.offsets') };
    if (cand.offsets.length < 1) throw rangeError('ERR_LLMK_BAD_SHAPE', 'candidates.offsets needs at least one entry (0)');
  } else if (Array.isArray(candidates)) {
    cand = packList(candidates, 'candidates', reuse);
  } else {
    throw typeError('ERR_LLMK_BAD_ARGUMENT', 'candidates must be an array of token sequences or { tokens, offsets }');
  }
  const count = cand.offsets.length - 1;
  let refs: PackedReferences;
  if (isPacked(references)) {
    refs = {
      tokens: checkU32(references.tokens, 'references.tokens'),
      offsets: checkU32(references.offsets, 'references.offsets'),
      groups: checkU32((references as PackedReferences).groups, 'references.groups'),
    };
  } else if (Array.isArray(references)) {
    if (references.length !== count)
      throw rangeError('ERR_LLMK_BAD_SHAPE', `references must have one entry per candidate (${count}), got ${references.length}`);
    const flat: TokenSeq[] = [];
    const groups = new Uint32Array(count + 1);
    for (let i = 0; i < count; i++) {
      const list = references[i];
      if (!Array.isArray(list))
        throw typeError('ERR_LLMK_BAD_ARGUMENT', `references[${i}] must be an array of token sequences (the references of candidate ${i})`);
      if (list.length === 0) throw rangeError('ERR_LLMK_BAD_SHAPE', `references[${i}] is empty: each candidate needs at least one reference`);
      for (const r of list) flat.push(r);
      groups[i + 1] = flat.length;
    }
    const packed = packList(flat, 'references', reuse);
    refs = { ...packed, groups };
  } else {
    throw typeError('ERR_LLMK_BAD_ARGUMENT', 'references must be an array (per candidate) of token sequences or { tokens, offsets, groups }');
  }
  // Offsets, groups and bounds are checked once more, natively, before any read.
  return { candTokens: cand.tokens, candOffsets: cand.offsets, refTokens: refs.tokens, refOffsets: refs.offsets, refGroups: refs.groups, count };
}
