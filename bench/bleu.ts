/**
 * Token-ID BLEU on TensorBLEU's setup, side by side with NLTK (run in the same
 * benchmark through Debian's python3-nltk when installed) and with this
 * package's own TypeScript reference. The checksum column proves every
 * contender computed the same scores before any time is compared.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { bleu, bleuReferenceStats, getThreads } from 'llm-kernels';
import { tensorBleuBatch } from './bleu-data.js';
import { medians, type Row, type Suite } from './harness.js';

const PYTHON = '/usr/bin/python3';
const nltkScript = fileURLToPath(new URL('../../scripts/nltk_bench.py', import.meta.url));

function nltkSeconds(repeats: number, hyps: Uint32Array[], refs: Uint32Array[][]): { seconds: number; sum: number; nltk: string } | string {
  if (!existsSync(nltkScript)) return 'scripts/nltk_bench.py not in this install';
  const r = spawnSync(PYTHON, [nltkScript], {
    input: JSON.stringify({ hyps: hyps.map((h) => [...h]), refs: refs.map((l) => l.map((x) => [...x])), repeats }),
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  if (r.status !== 0) return `NLTK not available (${(r.stderr || r.error?.message || '').trim().split('\n').pop()}); apt-get install python3-nltk`;
  return JSON.parse(r.stdout);
}

export const bleuSuite: Suite = {
  name: 'bleu',
  description: "sentence BLEU (NLTK method0) for 256 x {256, 1024} tokens, vocab 50k, 1 reference: llm-kernels vs NLTK and the TS reference",
  async run(log) {
    const rows: Row[] = [];
    const threads = getThreads();
    for (const length of [256, 1024]) {
      const { hyps, refs } = tensorBleuBatch(256, length);
      const sum = (xs: Float64Array) => xs.reduce((a, b) => a + b, 0);
      const ours = sum(bleu.sentence(hyps, refs));
      const label = `256x${length}`;
      const m = await medians({
        [`llm-kernels sentence, 1 thread`]: () => bleu.sentence(hyps, refs),
        [`llm-kernels sentenceAsync, ${threads} threads`]: () => bleu.sentenceAsync(hyps, refs, { threads }),
        [`llm-kernels stats only, 1 thread`]: () => bleu.stats(hyps, refs),
      });
      const ts = await medians({ 'TS reference stats (Map of n-grams)': () => bleuReferenceStats(hyps, refs, 4) }, 0, 3);
      log(`bleu ${label}: running NLTK sentence_bleu...`);
      const nltk = nltkSeconds(3, hyps, refs);
      const nltkMs = typeof nltk === 'string' ? NaN : nltk.seconds * 1e3;
      const all = { ...m, ...ts };
      for (const [name, ms] of Object.entries(all))
        rows.push({ suite: 'bleu', name: `${label} ${name}`, medianMs: ms, 'x NLTK': nltkMs / ms, checksum: name.includes('stats') ? '-' : ours.toFixed(9) });
      if (typeof nltk === 'string') rows.push({ suite: 'bleu', name: `${label} NLTK`, medianMs: NaN, note: nltk });
      else rows.push({ suite: 'bleu', name: `${label} NLTK ${nltk.nltk} sentence_bleu`, medianMs: nltkMs, 'x NLTK': 1, checksum: nltk.sum.toFixed(9) });
    }
    return rows;
  },
};
