/**
 * BLEU scoring with NLTK's semantics (nltk.translate.bleu_score, 3.8–3.10),
 * quirks included, from integer statistics. The statistics of one sentence
 * and of a whole corpus take the same path, as in NLTK, where sentence_bleu
 * is corpus_bleu of one pair.
 *
 * Quirks reproduced on purpose (each is NLTK's observable behaviour):
 * - the score is exactly 0 when no unigram matches, whatever the smoothing;
 * - a precision's denominator is max(1, n-gram count) per sentence, so a
 *   corpus adds 1 per hypothesis shorter than n;
 * - method0 replaces a zero precision by sys.float_info.min (scores ~1e-77);
 * - zero precisions left after smoothing are dropped from the sum of logs;
 * - method4 does nothing when the hypothesis length is 1;
 * - methods 5–7 look at the *last* pair of a corpus (NLTK reads the loop
 *   variables after the loop), and method 5 always adds the order-5 precision.
 */
import { rangeError } from '../errors.js';
import { fsum } from './fsum.js';

export const NLTK_METHODS = ['method0', 'method1', 'method2', 'method3', 'method4', 'method5', 'method6', 'method7'] as const;
export type NltkSmoothing = (typeof NLTK_METHODS)[number];

export interface NltkParams {
  epsilon: number;
  alpha: number;
  k: number;
}

/** Corpus-level (or one sentence's) statistics, as NLTK accumulates them. */
export interface NltkStats {
  /** Σ clipped matches per order. */
  numerators: number[];
  /** Σ max(1, candidate n-grams) per order. */
  denominators: number[];
  hypLen: number;
  refLen: number;
  /** The last pair's order-5 modified precision and length (methods 5–7). */
  lastM5: number;
  lastT5: number;
  lastHypLen: number;
}

/** A precision: a fraction (kept unreduced, as NLTK's) or a float. */
type Precision = { n: number; d: number } | number;
const value = (p: Precision): number => (typeof p === 'number' ? p : p.n / p.d);
const FLOAT_MIN = 2.2250738585072014e-308; // sys.float_info.min

export function brevityPenalty(refLen: number, hypLen: number): number {
  if (hypLen > refLen) return 1;
  if (hypLen === 0) return 0;
  return Math.exp(1 - refLen / hypLen);
}

function smooth(p: Precision[], method: NltkSmoothing, s: NltkStats, params: NltkParams): Precision[] {
  const hypLen = s.hypLen ? s.hypLen : s.lastHypLen;
  const isZero = (q: Precision) => typeof q !== 'number' && q.n === 0;
  switch (method) {
    case 'method0':
      return p.map((q) => (isZero(q) ? FLOAT_MIN : q));
    case 'method1':
      return p.map((q) => (typeof q !== 'number' && q.n === 0 ? (q.n + params.epsilon) / q.d : q));
    case 'method2':
      return p.map((q, i) => (i !== 0 && typeof q !== 'number' ? { n: q.n + 1, d: q.d + 1 } : q));
    case 'method3': {
      let inc = 1;
      return p.map((q) => {
        if (typeof q === 'number' || q.n !== 0) return q;
        return 1 / (2 ** inc++ * q.d);
      });
    }
    case 'method4': {
      let inc = 1;
      return p.map((q) => {
        if (typeof q === 'number' || q.n !== 0 || !(hypLen > 1)) return q;
        const numerator = 1 / ((2 ** inc++ * params.k) / Math.log(hypLen));
        return numerator / q.d;
      });
    }
    case 'method5': {
      const plus1: Precision[] = [...p, { n: s.lastM5, d: Math.max(1, s.lastT5) }];
      const out = [...p];
      let prev = value(p[0]) + 1;
      for (let i = 0; i < p.length; i++) {
        out[i] = (prev + value(p[i]) + value(plus1[i + 1])) / 3;
        prev = out[i] as number;
      }
      return out;
    }
    case 'method6': {
      if (p.length < 3 || value(p[2]) === 0)
        throw rangeError('ERR_LLMK_BLEU_SMOOTHING', 'method6 needs at least 3 orders and a non-zero trigram precision (NLTK asserts this)');
      const out = [...p];
      for (let i = 2; i < p.length; i++) {
        const pi0 = value(out[i - 2]) === 0 ? 0 : value(out[i - 1]) ** 2 / value(out[i - 2]);
        const m = typeof p[i] === 'number' ? (p[i] as number) : (p[i] as { n: number }).n;
        const l = Math.max(0, s.lastHypLen - i);
        out[i] = (m + params.alpha * pi0) / (l + params.alpha);
      }
      return out;
    }
    case 'method7':
      return smooth(smooth(p, 'method4', s, params), 'method5', s, params);
  }
}

/** NLTK's corpus_bleu (and so sentence_bleu) from accumulated statistics. */
export function nltkScore(s: NltkStats, weights: readonly number[], method: NltkSmoothing, autoReweigh: boolean, params: NltkParams): number {
  const bp = brevityPenalty(s.refLen, s.hypLen);
  if (s.numerators[0] === 0) return 0;
  const p = smooth(
    s.numerators.map((n, i) => ({ n, d: s.denominators[i] })),
    method,
    s,
    params,
  );
  let w = weights;
  if (autoReweigh && s.hypLen < 4 && weights.length === 4 && weights.every((x) => x === 0.25))
    w = new Array<number>(s.hypLen).fill(1 / s.hypLen);
  const terms: number[] = [];
  for (let i = 0; i < Math.min(w.length, p.length); i++) {
    const v = value(p[i]);
    if (v > 0) terms.push(w[i] * Math.log(v));
  }
  return bp * Math.exp(fsum(terms));
}
