/**
 * The readable reference for the native byte-pair merge (tiktoken's rule):
 * start from single bytes, and repeatedly join the adjacent pair whose joined
 * bytes have the lowest rank, the leftmost one on ties, until no pair is a
 * token. Quadratic and obviously right; tests compare the native encoder
 * (flat merge for short pieces, heap merge for long ones) against it.
 *
 * @example
 *   const tok = Tokenizer.fromEncoding('cl100k_base');
 *   bpeMergeReference(new TextEncoder().encode('hello'), (b) => tok.tokenToId(b)); // [15339]
 */
export function bpeMergeReference(bytes: Uint8Array, rankOf: (bytes: Uint8Array) => number | undefined): number[] {
  let parts: Uint8Array[] = [...bytes].map((b) => Uint8Array.of(b));
  for (;;) {
    let best = -1;
    let bestRank = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const joined = new Uint8Array(parts[i].length + parts[i + 1].length);
      joined.set(parts[i]);
      joined.set(parts[i + 1], parts[i].length);
      const r = rankOf(joined);
      if (r !== undefined && r < bestRank) (bestRank = r), (best = i);
    }
    if (best < 0) break;
    const joined = new Uint8Array(parts[best].length + parts[best + 1].length);
    joined.set(parts[best]);
    joined.set(parts[best + 1], parts[best].length);
    parts = [...parts.slice(0, best), joined, ...parts.slice(best + 2)];
  }
  return parts.map((p) => {
    const r = rankOf(p);
    if (r === undefined) throw new Error(`byte ${p[0]} has no token`);
    return r;
  });
}

/**
 * The readable reference for Hugging Face's BPE rule (tokenizers'
 * Word::merge_all): from the initial symbols' ids, repeatedly join the
 * adjacent pair listed first among the merges, the leftmost one on ties,
 * until no adjacent pair is listed. Quadratic and obviously right; tests
 * compare the native encoder (rescanning short runs, a heap for long ones,
 * runs split where no merge can join) against it.
 *
 * @example
 *   const merges = new Map([['1 2', { priority: 0, id: 3 }]]);
 *   listedMergeReference([1, 2, 1], (l, r) => merges.get(`${l} ${r}`)); // [3, 1]
 */
export function listedMergeReference(ids: readonly number[], mergeOf: (left: number, right: number) => { priority: number; id: number } | undefined): number[] {
  const parts = [...ids];
  for (;;) {
    let best = -1;
    let bestPriority = Infinity;
    for (let i = 0; i + 1 < parts.length; i++) {
      const m = mergeOf(parts[i]!, parts[i + 1]!);
      if (m && m.priority < bestPriority) (bestPriority = m.priority), (best = i);
    }
    if (best < 0) return parts;
    parts.splice(best, 2, mergeOf(parts[best]!, parts[best + 1]!)!.id);
  }
}
