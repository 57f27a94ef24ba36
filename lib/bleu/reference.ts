/**
 * The readable reference for the native statistics kernel: n-grams as joined
 * strings in a Map, clipped against the maximum count over the references.
 * Slow and obviously right; tests compare the kernel against it.
 *
 * @example
 *   referenceStats([[1, 2, 3]], [[[1, 2, 4]]], 2)
 *   // { hypLen: [3], refLen: [3], matches: [2, 1], totals: [3, 2] }
 */
import type { TokenSeq } from './pack.js';

export interface ReferenceStats {
  hypLen: number[];
  refLen: number[];
  matches: number[][];
  totals: number[][];
}

function ngramCounts(seq: TokenSeq, n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let p = 0; p + n <= seq.length; p++) {
    const key = Array.prototype.slice.call(seq, p, p + n).join(',');
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function referenceStats(candidates: readonly TokenSeq[], references: readonly (readonly TokenSeq[])[], maxOrder: number): ReferenceStats {
  const out: ReferenceStats = { hypLen: [], refLen: [], matches: [], totals: [] };
  candidates.forEach((cand, i) => {
    const len = cand.length;
    let best = -1;
    for (const r of references[i]) {
      const d = Math.abs(r.length - len);
      if (best < 0 || d < Math.abs(best - len) || (d === Math.abs(best - len) && r.length < best)) best = r.length;
    }
    const matches: number[] = [];
    const totals: number[] = [];
    for (let n = 1; n <= maxOrder; n++) {
      const maxRef = new Map<string, number>();
      for (const r of references[i]) for (const [g, c] of ngramCounts(r, n)) maxRef.set(g, Math.max(maxRef.get(g) ?? 0, c));
      let m = 0;
      for (const [g, c] of ngramCounts(cand, n)) m += Math.min(c, maxRef.get(g) ?? 0);
      matches.push(m);
      totals.push(Math.max(0, len - n + 1));
    }
    out.hypLen.push(len);
    out.refLen.push(best);
    out.matches.push(matches);
    out.totals.push(totals);
  });
  return out;
}
