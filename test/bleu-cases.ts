/** Golden BLEU data (test/data/bleu, copied from the project's shared data) and how its keys map to options. */
import { readFileSync } from 'node:fs';
import type { BleuOptions } from 'llm-kernels';
// @ts-expect-error -- plain JS generator shipped with the golden data
import { batch_sha256, gen_batch } from './data/bleu/gen.mjs';

const dir = new URL('./data/bleu/', import.meta.url);
export const edge = JSON.parse(readFileSync(new URL('golden_edge.json', dir), 'utf8'));
export const random = JSON.parse(readFileSync(new URL('golden_random.json', dir), 'utf8'));

/** NLTK golden keys: 'method4', 'method0_bleu2', 'method1_w1234', 'method0_autoreweigh'. */
export function nltkOptions(key: string): BleuOptions {
  const [method, variant] = key.split('_');
  const o: BleuOptions = { flavor: 'nltk', smoothing: method as BleuOptions['smoothing'] };
  if (variant === 'bleu1') o.weights = [1];
  else if (variant === 'bleu2') o.weights = [0.5, 0.5];
  else if (variant === 'bleu3') o.weights = [1 / 3, 1 / 3, 1 / 3];
  else if (variant === 'w1234') o.weights = [0.1, 0.2, 0.3, 0.4];
  else if (variant === 'autoreweigh') o.autoReweigh = true;
  else if (variant !== undefined) throw new Error(`unknown golden key ${key}`);
  return o;
}

/** sacreBLEU golden keys: 'exp', 'floor_eff', 'addk', ... */
export function sacrebleuOptions(key: string): BleuOptions {
  const [method, eff] = key.split('_');
  return { flavor: 'sacrebleu', smoothing: (method === 'addk' ? 'add-k' : method) as BleuOptions['smoothing'], effectiveOrder: eff === 'eff' };
}

export interface GoldenBatch {
  id: string;
  hyps: number[][];
  refs: number[][][];
  [key: string]: unknown;
}

/** Inline batches as stored; the large ones rebuilt from their seed and checked against their sha256. */
export function batchTokens(b: { params: object; sha256: string; inline: boolean; hyps?: number[][]; refs?: number[][][] }): { hyps: number[][]; refs: number[][][] } {
  if (b.inline) return { hyps: b.hyps!, refs: b.refs! };
  const { hyps, refs } = gen_batch(b.params);
  if (batch_sha256(hyps, refs) !== b.sha256) throw new Error('regenerated golden batch does not match its sha256');
  return { hyps, refs };
}
