import { describe, expect, it } from 'vitest';
import { bleu } from 'llm-kernels';
import { batchTokens, edge, nltkOptions, random, sacrebleuOptions } from './bleu-cases.js';
import { closeTo } from './helpers.js';

function expectClose(got: number, want: number, what: string) {
  if (!closeTo(got, want)) expect.fail(`${what}: got ${got}, want ${want}`);
}

describe('BLEU golden edge cases (NLTK 3.10 / sacreBLEU 2.6)', () => {
  it.each(edge.cases.map((c: { name: string }) => [c.name, c]))('%s', (_name, c) => {
    const cand = [c.hyp];
    const refs = [c.refs];
    const st = bleu.stats(cand, refs);
    expect([...st.matches]).toEqual(c.stats.matches);
    expect([...st.totals]).toEqual(c.stats.totals);
    expect(st.hypLen[0]).toBe(c.stats.hyp_len);
    expect(st.refLen[0]).toBe(c.stats.ref_len);
    for (const [key, want] of Object.entries(c.nltk as Record<string, number>)) {
      expectClose(bleu.sentence(cand, refs, nltkOptions(key))[0], want, `nltk ${key}`);
      // sentence_bleu is corpus_bleu of one pair
      expectClose(bleu.corpus(cand, refs, nltkOptions(key)).score, want, `nltk corpus-of-one ${key}`);
    }
    for (const [key, want] of Object.entries(c.sacrebleu_tok_none as Record<string, number>))
      expectClose(bleu.sentence(cand, refs, sacrebleuOptions(key))[0], want, `sacrebleu ${key}`);
  });

  it('whole file as one corpus', () => {
    const cands = edge.cases.map((c: { hyp: number[] }) => c.hyp);
    const refs = edge.cases.map((c: { refs: number[][] }) => c.refs);
    for (const [key, want] of Object.entries(edge.corpus.nltk as Record<string, number>))
      expectClose(bleu.corpus(cands, refs, nltkOptions(key)).score, want, `nltk corpus ${key}`);
    for (const [key, want] of Object.entries(edge.corpus.sacrebleu_tok_none as Record<string, number>))
      expectClose(bleu.corpus(cands, refs, sacrebleuOptions(key)).score, want, `sacrebleu corpus ${key}`);
  });
});

describe('BLEU golden random batches', () => {
  it.each(random.batches.map((b: { id: string }) => [b.id, b]))('%s', async (_id, b) => {
    const { hyps, refs } = batchTokens(b);
    const st = await bleu.statsAsync(hyps, refs, { threads: 2 });
    const N = st.maxOrder;
    for (let i = 0; i < hyps.length; i++) {
      expect([...st.matches.subarray(i * N, i * N + N)]).toEqual(b.stats.matches[i]);
      expect([...st.totals.subarray(i * N, i * N + N)]).toEqual(b.stats.totals[i]);
    }
    expect([...st.hypLen]).toEqual(b.stats.hyp_len);
    expect([...st.refLen]).toEqual(b.stats.ref_len);
    for (const [key, want] of Object.entries(b.nltk_sentence as Record<string, number[]>)) {
      const got = bleu.sentence(hyps, refs, nltkOptions(key));
      want.forEach((w, i) => expectClose(got[i], w, `nltk ${key} sentence ${i}`));
    }
    for (const [key, want] of Object.entries(b.sacrebleu_tok_none_sentence as Record<string, number[]>)) {
      const got = bleu.sentence(hyps, refs, sacrebleuOptions(key));
      want.forEach((w, i) => expectClose(got[i], w, `sacrebleu ${key} sentence ${i}`));
    }
    for (const [key, want] of Object.entries(b.nltk_corpus as Record<string, number>))
      expectClose(bleu.corpus(hyps, refs, nltkOptions(key)).score, want, `nltk corpus ${key}`);
    for (const [key, want] of Object.entries(b.sacrebleu_tok_none_corpus as Record<string, number>))
      expectClose(bleu.corpus(hyps, refs, sacrebleuOptions(key)).score, want, `sacrebleu corpus ${key}`);
  });
});
