/**
 * Token-ID BLEU, per sentence and per corpus, with NLTK's or sacreBLEU's
 * semantics. Statistics come from the native kernel (threads or CUDA);
 * scoring runs afterwards in float64 here.
 *
 * @example
 *   import { bleu } from 'llm-kernels';
 *   const cand = [new Uint32Array([5, 6, 7, 8])];
 *   const refs = [[new Uint32Array([5, 6, 7, 9])]];
 *   bleu.sentence(cand, refs, { smoothing: 'method1' });          // Float64Array [0.3...] (NLTK)
 *   bleu.corpus(cand, refs, { flavor: 'sacrebleu' }).score;       // 0..100
 */
import { withAbort } from '../async.js';
import { kernelOptions, loaded, type NativeCancelToken } from '../native.js';
import { nltkScore, type NltkStats } from './nltk.js';
import { resolveBleuOptions, type BleuAsyncOptions, type BleuOptions, type ResolvedBleuOptions } from './options.js';
import { packBatch, type Candidates, type PackedBatch, type References } from './pack.js';
import { sacrebleuScore } from './sacrebleu.js';
import { splitStats, type BleuStats } from './stats.js';

export interface CorpusBleu {
  /** NLTK flavor: 0–1; sacreBLEU flavor: 0–100. */
  score: number;
  /** Per order: NLTK's modified precision (matches / max(1, total), summed over the corpus), or sacreBLEU's precisions (0–100, smoothed). */
  precisions: number[];
  bp: number;
  /** hypLen / refLen (0 when refLen is 0). */
  ratio: number;
  hypLen: number;
  refLen: number;
  matches: number[];
  totals: number[];
}

function runStats(batch: PackedBatch, order: number, threads: number | undefined, cancel?: NativeCancelToken, async = false) {
  const native = loaded().native;
  const args = [batch.candTokens, batch.candOffsets, batch.refTokens, batch.refOffsets, batch.refGroups] as const;
  const opts = { ...kernelOptions(threads, cancel), maxOrder: order };
  return async ? native.bleuStatsAsync(...args, opts) : native.bleuStats(...args, opts);
}

function nltkStatsOf(s: BleuStats, o: ResolvedBleuOptions & { flavor: 'nltk' }, from: number, to: number): NltkStats {
  const N = s.maxOrder;
  const numerators = new Array<number>(o.maxOrder).fill(0);
  const denominators = new Array<number>(o.maxOrder).fill(0);
  let hypLen = 0;
  let refLen = 0;
  for (let i = from; i < to; i++) {
    for (let n = 0; n < o.maxOrder; n++) {
      numerators[n] += s.matches[i * N + n];
      denominators[n] += Math.max(1, s.totals[i * N + n]);
    }
    hypLen += s.hypLen[i];
    refLen += s.refLen[i];
  }
  const last = to - 1;
  const has5 = N >= 5 && last >= 0;
  return {
    numerators, denominators, hypLen, refLen,
    lastM5: has5 ? s.matches[last * N + 4] : 0,
    lastT5: has5 ? s.totals[last * N + 4] : 0,
    lastHypLen: last >= 0 ? s.hypLen[last] : 0,
  };
}

function sumOrders(s: BleuStats, which: Uint32Array, order: number, from: number, to: number): number[] {
  const out = new Array<number>(order).fill(0);
  for (let i = from; i < to; i++) for (let n = 0; n < order; n++) out[n] += which[i * s.maxOrder + n];
  return out;
}

function sentenceScores(s: BleuStats, o: ResolvedBleuOptions): Float64Array {
  const scores = new Float64Array(s.count);
  for (let i = 0; i < s.count; i++) {
    if (o.flavor === 'nltk') {
      scores[i] = nltkScore(nltkStatsOf(s, o, i, i + 1), o.weights, o.smoothing, o.autoReweigh, o.params);
    } else {
      const correct = sumOrders(s, s.matches, o.maxOrder, i, i + 1);
      const total = sumOrders(s, s.totals, o.maxOrder, i, i + 1);
      scores[i] = sacrebleuScore(correct, total, s.hypLen[i], s.refLen[i], o.smoothing, o.smoothValue, o.effectiveOrder).score;
    }
  }
  return scores;
}

function corpusScore(s: BleuStats, o: ResolvedBleuOptions): CorpusBleu {
  const matches = sumOrders(s, s.matches, o.maxOrder, 0, s.count);
  const totals = sumOrders(s, s.totals, o.maxOrder, 0, s.count);
  let hypLen = 0;
  let refLen = 0;
  for (let i = 0; i < s.count; i++) (hypLen += s.hypLen[i]), (refLen += s.refLen[i]);
  const ratio = refLen ? hypLen / refLen : 0;
  if (o.flavor === 'nltk') {
    const st = nltkStatsOf(s, o, 0, s.count);
    const score = nltkScore(st, o.weights, o.smoothing, o.autoReweigh, o.params);
    const bp = hypLen > refLen ? 1 : hypLen === 0 ? 0 : Math.exp(1 - refLen / hypLen);
    return { score, precisions: st.numerators.map((n, i) => n / st.denominators[i]), bp, ratio, hypLen, refLen, matches, totals };
  }
  const r = sacrebleuScore(matches, totals, hypLen, refLen, o.smoothing, o.smoothValue, o.effectiveOrder);
  return { score: r.score, precisions: r.precisions, bp: r.bp, ratio, hypLen, refLen, matches, totals };
}

// Scoring may need more orders than the caller sees (method 5 reads order 5):
// `keep` is how many orders the returned statistics show.
function statsFor(candidates: Candidates, references: References, o: ResolvedBleuOptions, keep = o.statsOrder): BleuStats {
  const batch = packBatch(candidates, references);
  return splitStats(runStats(batch, o.statsOrder, o.threads) as Uint32Array, batch.count, o.statsOrder, keep);
}

async function statsForAsync(
  candidates: Candidates, references: References, o: ResolvedBleuOptions, signal?: AbortSignal, keep = o.statsOrder,
): Promise<BleuStats> {
  const batch = packBatch(candidates, references);
  const raw = await withAbort(signal, (cancel) => runStats(batch, o.statsOrder, o.threads, cancel, true) as Promise<Uint32Array>);
  return splitStats(raw, batch.count, o.statsOrder, keep);
}

export const bleu = {
  /** Per-sentence integer statistics (clipped matches and totals per order, lengths). */
  stats(candidates: Candidates, references: References, options?: BleuOptions): BleuStats {
    const o = resolveBleuOptions(options, 'sentence');
    return statsFor(candidates, references, o, o.maxOrder);
  },
  async statsAsync(candidates: Candidates, references: References, options?: BleuAsyncOptions): Promise<BleuStats> {
    const o = resolveBleuOptions(options, 'sentence');
    return statsForAsync(candidates, references, o, options?.signal, o.maxOrder);
  },
  /** One score per candidate (NLTK sentence_bleu, or sacreBLEU sentence_score). */
  sentence(candidates: Candidates, references: References, options?: BleuOptions): Float64Array {
    const o = resolveBleuOptions(options, 'sentence');
    return sentenceScores(statsFor(candidates, references, o), o);
  },
  async sentenceAsync(candidates: Candidates, references: References, options?: BleuAsyncOptions): Promise<Float64Array> {
    const o = resolveBleuOptions(options, 'sentence');
    return sentenceScores(await statsForAsync(candidates, references, o, options?.signal), o);
  },
  /** One score for the batch (NLTK corpus_bleu, or sacreBLEU corpus_score). */
  corpus(candidates: Candidates, references: References, options?: BleuOptions): CorpusBleu {
    const o = resolveBleuOptions(options, 'corpus');
    return corpusScore(statsFor(candidates, references, o), o);
  },
  async corpusAsync(candidates: Candidates, references: References, options?: BleuAsyncOptions): Promise<CorpusBleu> {
    const o = resolveBleuOptions(options, 'corpus');
    return corpusScore(await statsForAsync(candidates, references, o, options?.signal), o);
  },
};

export type { BleuStats } from './stats.js';
export type { BleuOptions, BleuAsyncOptions } from './options.js';
export type { Candidates, References, PackedSequences, PackedReferences, TokenSeq } from './pack.js';
