/**
 * The TensorBLEU benchmark setup (vocab 50k, one reference, BLEU around 0.35):
 * references are noisy copies of the candidates. A port of the golden data's
 * generator (mulberry32 + the same mutation model), so bench batches and
 * golden batches have the same statistics.
 */
export function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

export function tensorBleuBatch(count: number, length: number, vocab = 50000, seed = 1234): { hyps: Uint32Array[]; refs: Uint32Array[][] } {
  const r = mulberry32(seed);
  const tok = () => 1 + (r() % (vocab - 1));
  const hyps: Uint32Array[] = [];
  const refs: Uint32Array[][] = [];
  for (let i = 0; i < count; i++) {
    const hyp = Uint32Array.from({ length }, tok);
    const sub = 50 + (r() % 551); // substitutions per mille, as gen.mjs
    const ref: number[] = [];
    for (const t of hyp) {
      const x = r() % 1000;
      if (x < sub) ref.push(tok());
      else if (x < sub + 20) continue;
      else if (x < sub + 40) ref.push(t, tok());
      else ref.push(t);
    }
    hyps.push(hyp);
    refs.push([Uint32Array.from(ref)]);
  }
  return { hyps, refs };
}
