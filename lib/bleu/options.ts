/** Every BLEU option is checked here, once, and resolved to its default. */
import { rangeError } from '../errors.js';
import { checkBoolean, checkChoice, checkInt, checkNumber, checkObject, checkThreads } from '../options.js';
import { NLTK_METHODS, type NltkParams, type NltkSmoothing } from './nltk.js';
import { SACREBLEU_SMOOTHING, SACREBLEU_SMOOTH_DEFAULTS, type SacrebleuSmoothing } from './sacrebleu.js';
import { TEXT_TOKENIZERS, type TextTokenizer } from './text.js';

export interface BleuOptions {
  /** Highest n-gram order (default 4, or weights.length). */
  maxOrder?: number;
  /** NLTK flavor only: per-order weights (default uniform, NLTK's (0.25, 0.25, 0.25, 0.25)). */
  weights?: readonly number[];
  /** Threads for this call (synchronous calls default to 1). */
  threads?: number;
  /** 'nltk' (0–1, NLTK's SmoothingFunction) or 'sacrebleu' (0–100). Default 'nltk'. */
  flavor?: 'nltk' | 'sacrebleu';
  /** nltk: 'method0' … 'method7' (default 'method0'); sacrebleu: 'exp' (default), 'floor', 'add-k', 'none'. */
  smoothing?: NltkSmoothing | SacrebleuSmoothing;
  /** NLTK SmoothingFunction parameters (defaults 0.1, 5, 5). */
  epsilon?: number;
  alpha?: number;
  k?: number;
  /** NLTK auto_reweigh (default false). */
  autoReweigh?: boolean;
  /** sacreBLEU smooth_value for 'floor' (default 0.1) and 'add-k' (default 1). */
  smoothValue?: number;
  /** sacreBLEU effective_order (default true for sentence scores, false for corpus). */
  effectiveOrder?: boolean;
}

export interface BleuAsyncOptions extends BleuOptions {
  signal?: AbortSignal;
}

/** bleu.text / bleu.textSentence: sacreBLEU's options (the flavor is always 'sacrebleu'). */
export interface TextBleuOptions extends Omit<BleuOptions, 'flavor' | 'weights' | 'epsilon' | 'alpha' | 'k' | 'autoReweigh' | 'smoothing'> {
  flavor?: 'sacrebleu';
  smoothing?: SacrebleuSmoothing;
  /** '13a' (default), 'intl', 'char' or 'none', as sacreBLEU's `tokenize`. */
  tokenize?: TextTokenizer;
  /** Lowercase before tokenizing (sacreBLEU `lowercase`, default false). */
  lowercase?: boolean;
}

/** What bleu.signature() describes; `nrefs` defaults to 1. */
export interface SignatureOptions extends BleuOptions {
  tokenize?: TextTokenizer;
  lowercase?: boolean;
  nrefs?: number | 'var';
}

export type ResolvedBleuOptions =
  | { flavor: 'nltk'; maxOrder: number; statsOrder: number; threads?: number; weights: number[]; smoothing: NltkSmoothing; params: NltkParams; autoReweigh: boolean }
  | { flavor: 'sacrebleu'; maxOrder: number; statsOrder: number; threads?: number; smoothing: SacrebleuSmoothing; smoothValue: number | null; effectiveOrder: boolean };

const KNOWN = new Set(['maxOrder', 'weights', 'threads', 'flavor', 'smoothing', 'epsilon', 'alpha', 'k', 'autoReweigh', 'smoothValue', 'effectiveOrder', 'signal']);
const MAX_ORDER = 16; // native/bleu/bleu.h kMaxOrder

export function resolveBleuOptions(options: unknown, level: 'sentence' | 'corpus', extra: readonly string[] = []): ResolvedBleuOptions {
  const o = checkObject<BleuOptions>(options, 'options');
  for (const key of Object.keys(o))
    if (!KNOWN.has(key) && !extra.includes(key)) throw rangeError('ERR_LLMK_BAD_OPTION', `unknown BLEU option '${key}'`);
  const flavor = checkChoice(o.flavor, 'flavor', ['nltk', 'sacrebleu'] as const, 'nltk');
  const threads = checkThreads(o.threads);
  let weights: number[] | undefined;
  if (o.weights !== undefined) {
    if (flavor !== 'nltk') throw rangeError('ERR_LLMK_BAD_OPTION', 'weights apply to the nltk flavor only (sacreBLEU has none)');
    if (!Array.isArray(o.weights) || o.weights.length < 1 || o.weights.length > MAX_ORDER)
      throw rangeError('ERR_LLMK_BAD_OPTION', `weights must be an array of 1 to ${MAX_ORDER} numbers`);
    weights = Array.from(o.weights, (w, i) => checkNumber(w, `weights[${i}]`)); // holes too (map skips them)
  }
  const maxOrder = o.maxOrder === undefined ? (weights?.length ?? 4) : checkInt(o.maxOrder, 'maxOrder', 1, MAX_ORDER);
  if (weights && weights.length !== maxOrder)
    throw rangeError('ERR_LLMK_BAD_OPTION', `weights has ${weights.length} entries but maxOrder is ${maxOrder}`);
  if (flavor === 'nltk') {
    for (const key of ['smoothValue', 'effectiveOrder'] as const)
      if (o[key] !== undefined) throw rangeError('ERR_LLMK_BAD_OPTION', `${key} applies to the sacrebleu flavor only`);
    const smoothing = checkChoice(o.smoothing, 'smoothing', NLTK_METHODS, 'method0');
    const params = {
      epsilon: o.epsilon === undefined ? 0.1 : checkNumber(o.epsilon, 'epsilon'),
      alpha: o.alpha === undefined ? 5 : checkNumber(o.alpha, 'alpha'),
      k: o.k === undefined ? 5 : checkNumber(o.k, 'k'),
    };
    // Method 5 (and 7) always reads the order-5 precision, whatever maxOrder is.
    const statsOrder = smoothing === 'method5' || smoothing === 'method7' ? Math.max(maxOrder, 5) : maxOrder;
    return {
      flavor, maxOrder, statsOrder, threads, smoothing, params,
      weights: weights ?? new Array<number>(maxOrder).fill(maxOrder === 4 ? 0.25 : 1 / maxOrder),
      autoReweigh: checkBoolean(o.autoReweigh, 'autoReweigh', false),
    };
  }
  for (const key of ['epsilon', 'alpha', 'k', 'autoReweigh'] as const)
    if (o[key] !== undefined) throw rangeError('ERR_LLMK_BAD_OPTION', `${key} applies to the nltk flavor only`);
  const smoothing = checkChoice(o.smoothing, 'smoothing', SACREBLEU_SMOOTHING, 'exp');
  const smoothValue = o.smoothValue === undefined ? SACREBLEU_SMOOTH_DEFAULTS[smoothing] : checkNumber(o.smoothValue, 'smoothValue', 0);
  return {
    flavor, maxOrder, statsOrder: maxOrder, threads, smoothing, smoothValue,
    effectiveOrder: checkBoolean(o.effectiveOrder, 'effectiveOrder', level === 'sentence'),
  };
}

export interface ResolvedTextOptions {
  bleu: ResolvedBleuOptions & { flavor: 'sacrebleu' };
  tokenize: TextTokenizer;
  lowercase: boolean;
}

export function resolveTextOptions(options: unknown, level: 'sentence' | 'corpus'): ResolvedTextOptions {
  const o = checkObject<TextBleuOptions>(options, 'options');
  if (o.flavor !== undefined && o.flavor !== 'sacrebleu')
    throw rangeError('ERR_LLMK_BAD_OPTION', "text BLEU follows sacreBLEU: flavor must be 'sacrebleu' (token-ID BLEU offers 'nltk')");
  const bleu = resolveBleuOptions({ ...o, flavor: 'sacrebleu' }, level, ['tokenize', 'lowercase']);
  return {
    bleu: bleu as ResolvedBleuOptions & { flavor: 'sacrebleu' },
    tokenize: checkChoice(o.tokenize, 'tokenize', TEXT_TOKENIZERS, '13a'),
    lowercase: checkBoolean(o.lowercase, 'lowercase', false),
  };
}
