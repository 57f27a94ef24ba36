/**
 * A sacreBLEU-style signature, so that a reported number says how it was
 * computed: nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:…
 * Token-ID BLEU reports tok:ids; the NLTK flavor names its method and weights.
 */
import { createRequire } from 'node:module';
import { rangeError } from '../errors.js';
import type { ResolvedBleuOptions } from './options.js';

const version = (createRequire(import.meta.url)('../../../package.json') as { version: string }).version;

export function formatSignature(o: ResolvedBleuOptions, nrefs: number | 'var', tok: string, lowercase: boolean): string {
  if (nrefs !== 'var' && !(Number.isInteger(nrefs) && nrefs >= 1))
    throw rangeError('ERR_LLMK_BAD_OPTION', `nrefs must be a positive integer or 'var', got ${String(nrefs)}`);
  const parts = [`nrefs:${nrefs}`, `case:${lowercase ? 'lc' : 'mixed'}`];
  if (o.flavor === 'sacrebleu') {
    parts.push(`eff:${o.effectiveOrder ? 'yes' : 'no'}`, `tok:${tok}`);
    parts.push(`smooth:${o.smoothing}${o.smoothValue === null || o.smoothing === 'exp' || o.smoothing === 'none' ? '' : `[${o.smoothValue.toFixed(2)}]`}`);
  } else {
    parts.push('flavor:nltk', `tok:${tok}`, `smooth:${o.smoothing}`, `weights:${o.weights.map((w) => +w.toFixed(4)).join(',')}`);
    if (o.autoReweigh) parts.push('reweigh:yes');
  }
  if (o.maxOrder !== 4) parts.push(`order:${o.maxOrder}`);
  parts.push(`version:llm-kernels-${version}`);
  return parts.join('|');
}
