/** Runs Debian's NLTK (python3-nltk) as a live oracle, when it is installed. */
import { spawnSync } from 'node:child_process';

const PYTHON = '/usr/bin/python3';
const script = new URL('../scripts/nltk_oracle.py', import.meta.url).pathname;

export function nltkAvailable(): boolean {
  const r = spawnSync(PYTHON, ['-c', 'import nltk.translate.bleu_score'], { encoding: 'utf8' });
  return r.status === 0;
}

export interface NltkResult {
  sentence: Record<string, (number | string)[]>;
  corpus: Record<string, number | string>;
}

export function runNltk(hyps: number[][], refs: number[][][], methods: string[], weights?: number[]): NltkResult {
  const r = spawnSync(PYTHON, [script], {
    input: JSON.stringify({ hyps, refs, methods, weights }),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`NLTK oracle failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as NltkResult;
}
