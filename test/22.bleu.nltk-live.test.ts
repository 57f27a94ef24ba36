import { describe, expect, it } from 'vitest';
import { bleu, type BleuOptions } from 'llm-kernels';
import { closeTo, freshSeed, rng } from './helpers.js';
import { nltkAvailable, runNltk } from './nltk.js';

const available = nltkAvailable();
if (!available) console.warn('SKIPPED: live NLTK oracle tests (apt-get install python3-nltk to run them; .ci/run does)');

/** Fresh batches with the shapes that stress the quirks: tiny hypotheses, ties, repeats. */
function batch(r: () => number, count: number, vocab: number, maxLen: number) {
  const hyps: number[][] = [];
  const refs: number[][][] = [];
  for (let i = 0; i < count; i++) {
    const len = r() % 4 === 0 ? r() % 4 : r() % (maxLen + 1);
    const h = Array.from({ length: len }, () => r() % vocab);
    const list: number[][] = [];
    for (let j = 0, n = 1 + (r() % 3); j < n; j++) list.push(h.flatMap((t) => (r() % 3 === 0 ? [r() % vocab] : r() % 9 === 0 ? [] : [t])));
    hyps.push(h);
    refs.push(list);
  }
  return { hyps, refs };
}

describe.skipIf(!available)('BLEU against live NLTK on fresh random batches', () => {
  const methods = ['method0', 'method1', 'method2', 'method3', 'method4', 'method5', 'method6', 'method7'];
  it.each([
    ['small vocab, short', 6, 12],
    ['large vocab, long', 5000, 300],
  ])('%s', (_name, vocab, maxLen) => {
    const r = rng(freshSeed(`nltk live ${vocab}`));
    const { hyps, refs } = batch(r, 120, vocab, maxLen);
    for (const weights of [undefined, [0.5, 0.5], [0.1, 0.2, 0.3, 0.2, 0.2]]) {
      const want = runNltk(hyps, refs, methods, weights);
      for (const m of methods) {
        const o = { smoothing: m, weights } as BleuOptions;
        // NLTK raises for method6 on some inputs; we throw a coded error on exactly those.
        want.sentence[m].forEach((w, i) => {
          if (typeof w === 'string') {
            expect(() => bleu.sentence([hyps[i]], [refs[i]], o), `${m} sentence ${i}`).toThrow(/method6/);
          } else {
            const got = bleu.sentence([hyps[i]], [refs[i]], o)[0];
            if (!closeTo(got, w)) expect.fail(`${m} weights ${weights} sentence ${i}: got ${got}, NLTK ${w}`);
          }
        });
        const wc = want.corpus[m];
        if (typeof wc === 'string') expect(() => bleu.corpus(hyps, refs, o)).toThrow(/method6/);
        else if (!closeTo(bleu.corpus(hyps, refs, o).score, wc)) expect.fail(`${m} corpus: got ${bleu.corpus(hyps, refs, o).score}, NLTK ${wc}`);
      }
    }
  });
});
