/** The integer statistics of a batch, as the native kernel returns them. */

/** Per-sentence BLEU statistics; matches and totals are row-major [count × maxOrder]. */
export interface BleuStats {
  count: number;
  maxOrder: number;
  /** Candidate lengths. */
  hypLen: Uint32Array;
  /** Closest reference length per candidate (ties go to the shorter). */
  refLen: Uint32Array;
  /** Clipped n-gram matches: matches[i * maxOrder + (n - 1)]. */
  matches: Uint32Array;
  /** Candidate n-gram counts: max(0, hypLen - n + 1). */
  totals: Uint32Array;
}

/** Splits the kernel's rows [hyp_len, ref_len, m_1..m_N, t_1..t_N] into columns. */
export function splitStats(raw: Uint32Array, count: number, order: number, keep = order): BleuStats {
  const width = 2 + 2 * order;
  const s: BleuStats = {
    count,
    maxOrder: keep,
    hypLen: new Uint32Array(count),
    refLen: new Uint32Array(count),
    matches: new Uint32Array(count * keep),
    totals: new Uint32Array(count * keep),
  };
  for (let i = 0; i < count; i++) {
    const row = i * width;
    s.hypLen[i] = raw[row];
    s.refLen[i] = raw[row + 1];
    for (let n = 0; n < keep; n++) {
      s.matches[i * keep + n] = raw[row + 2 + n];
      s.totals[i * keep + n] = raw[row + 2 + order + n];
    }
  }
  return s;
}
