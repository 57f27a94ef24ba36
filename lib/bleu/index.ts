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
import { brevityPenalty, nltkScore, type NltkStats } from './nltk.js';
import {
  resolveBleuOptions, resolveTextOptions, type BleuAsyncOptions, type BleuOptions, type ResolvedBleuOptions, type SignatureOptions, type TextBleuOptions,
} from './options.js';
import { packBatch, type Candidates, type PackedBatch, type References } from './pack.js';
import { sacrebleuScore } from './sacrebleu.js';
import { formatSignature } from './signature.js';
import { splitStats, type BleuStats } from './stats.js';
import { checkTextReferences, textWords, WordIds } from './text.js';
import { typeError } from '../errors.js';
import { checkObject } from '../options.js';

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
    return { score, precisions: st.numerators.map((n, i) => n / st.denominators[i]), bp: brevityPenalty(refLen, hypLen), ratio, hypLen, refLen, matches, totals };
  }
  const r = sacrebleuScore(matches, totals, hypLen, refLen, o.smoothing, o.smoothValue, o.effectiveOrder);
  return { score: r.score, precisions: r.precisions, bp: r.bp, ratio, hypLen, refLen, matches, totals };
}

// Scoring may need more orders than the caller sees (method 5 reads order 5):
// `keep` is how many orders the returned statistics show.
function statsFor(candidates: Candidates, references: References, o: ResolvedBleuOptions, keep = o.statsOrder): BleuStats {
  const batch = packBatch(candidates, references, true);  // the kernel's result does not keep the batch
  return splitStats(runStats(batch, o.statsOrder, o.threads) as Uint32Array, batch.count, o.statsOrder, keep);
}

async function statsForAsync(
  candidates: Candidates, references: References, o: ResolvedBleuOptions, signal?: AbortSignal, keep = o.statsOrder,
): Promise<BleuStats> {
  const batch = packBatch(candidates, references);
  const raw = await withAbort(signal, (cancel) => runStats(batch, o.statsOrder, o.threads, cancel, true) as Promise<Uint32Array>);
  return splitStats(raw, batch.count, o.statsOrder, keep);
}

export interface TextBleu extends CorpusBleu {
  /** How the score was computed (sacreBLEU-style). */
  signature: string;
}

/** Tokenizes hypotheses and references as sacreBLEU does and scores them as a corpus. */
function textScore(hypotheses: readonly string[], references: readonly (readonly (string | null)[])[], options: unknown, level: 'sentence' | 'corpus'): TextBleu {
  const o = resolveTextOptions(options, level);
  if (!Array.isArray(hypotheses)) throw typeError('ERR_LLMK_BAD_ARGUMENT', 'hypotheses must be an array of strings');
  if (!Array.isArray(references) || references.length !== hypotheses.length)
    throw typeError('ERR_LLMK_BAD_ARGUMENT', `references must be an array with one list of references per hypothesis (${hypotheses.length})`);
  const ids = new WordIds();
  const nrefs = new Set<number>();
  const cands = hypotheses.map((h, i) => {
    if (typeof h !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', `hypotheses[${i}] must be a string`);
    return ids.encode(textWords(h, o.tokenize, o.lowercase));
  });
  const refs = references.map((list, i) => {
    const kept = checkTextReferences(list, i);
    nrefs.add(kept.length);
    return kept.map((r) => ids.encode(textWords(r, o.tokenize, o.lowercase)));
  });
  const result = corpusScore(statsFor(cands, refs, o.bleu), o.bleu);
  const n = nrefs.size === 1 ? [...nrefs][0] : nrefs.size === 0 ? 1 : 'var';
  return { ...result, signature: formatSignature(o.bleu, n, o.tokenize, o.lowercase) };
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
  /**
   * String BLEU as sacreBLEU's corpus_bleu: `references[i]` lists the
   * references of hypothesis i ('' or null entries are dropped, as sacreBLEU
   * does for a variable number of references). Score on the 0–100 scale.
   *
   * @example
   *   bleu.text(['The dog bit the man.'], [['The dog bit the man.']]).score // 100
   */
  text(hypotheses: readonly string[], references: readonly (readonly (string | null)[])[], options?: TextBleuOptions): TextBleu {
    return textScore(hypotheses, references, options, 'corpus');
  },
  /** One sentence as sacreBLEU's BLEU(...).sentence_score (effectiveOrder defaults to true). */
  textSentence(hypothesis: string, references: readonly (string | null)[], options?: TextBleuOptions): TextBleu {
    if (typeof hypothesis !== 'string') throw typeError('ERR_LLMK_BAD_ARGUMENT', 'hypothesis must be a string');
    return textScore([hypothesis], [references], options, 'sentence');
  },
  /**
   * The signature of a configuration, e.g.
   * `nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:llm-kernels-0.1.0`.
   * Without `tokenize`, token-ID BLEU is described (tok:ids).
   */
  signature(options?: SignatureOptions): string {
    const { nrefs = 1, tokenize, lowercase = false, ...rest } = checkObject<SignatureOptions>(options, 'options');
    const o = resolveBleuOptions(rest, 'corpus');
    return formatSignature(o, nrefs, tokenize ?? 'ids', lowercase);
  },
};

export type { BleuStats } from './stats.js';
export type { BleuOptions, BleuAsyncOptions, TextBleuOptions, SignatureOptions } from './options.js';
export type { Candidates, References, PackedSequences, PackedReferences, TokenSeq } from './pack.js';
