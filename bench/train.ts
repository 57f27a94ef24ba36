/**
 * BPE training against Hugging Face's trainer (the `tokenizers` npm binding,
 * whose only trainer configuration is the default one: vocab 30000, no
 * initial alphabet, min_frequency 0), one thread each (RAYON_NUM_THREADS=1,
 * threads: 1), each run in its own process for its peak memory. Both must
 * produce the same merges (checked by the merge count here and merge for
 * merge in test/34).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from 'llm-kernels';
import { loaded, packageRoot } from '../lib/native.js';
import { udhrCorpus } from '../lib/tokenize/premium.js';
import { linePieces } from '../lib/tokenize/train.js';
import type { Row, Suite } from './harness.js';

const child = fileURLToPath(new URL('./train-child.js', import.meta.url));

type Run = { ms: number; maxRssMiB: number; vocab: number; merges: number; bytesPerToken?: number };

/** One run in a fresh process: its figures, or the error it ended with. */
function runOnce(args: string[]): Run | string {
  const r = spawnSync(process.execPath, [child, ...args], { encoding: 'utf8', env: { ...process.env, RAYON_NUM_THREADS: '1', LLM_KERNELS_THREADS: '1' }, maxBuffer: 1 << 24 });
  if (r.status !== 0) return (r.stderr || 'failed').trim().split('\n').pop()!;
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Run;
}

/**
 * Each configuration `times` times in fresh processes, in rounds (one run of
 * every configuration per round, so that a slow minute on this shared machine
 * falls on the peer and on us alike); the median run (by time) of each.
 */
function runRounds(configs: string[][], times = 3): (Run | string)[] {
  const runs: (Run | string)[][] = configs.map(() => []);
  for (let round = 0; round < times; round++) configs.forEach((args, k) => runs[k]!.push(runOnce(args)));
  return runs.map((rs) => rs.find((r): r is string => typeof r === 'string') ?? (rs as Run[]).sort((a, b) => a.ms - b.ms)[rs.length >> 1]!);
}

/** SuperBPE against plain BPE at 32k on Brown: trained on the first 90 %, bytes per token on the rest. */
function superRows(brown: string, dir: string, log: (l: string) => void): Row[] {
  const text = readFileSync(brown);
  const cut = text.lastIndexOf(0x0a, Math.floor(text.length * 0.9)) + 1;
  const trainFile = join(dir, 'brown-train.txt');
  const heldFile = join(dir, 'brown-held.txt');
  writeFileSync(trainFile, text.subarray(0, cut));
  writeFileSync(heldFile, text.subarray(cut));
  const rows: Row[] = [];
  for (const [name, args] of [
    ['Brown 90 %: bpe 32k', ['ours', trainFile, '32000', 'true', 'bpe', '', heldFile]],
    ['Brown 90 %: superbpe 32k, transition 16k', ['ours', trainFile, '32000', 'true', 'superbpe', '16000', heldFile]],
  ] as const) {
    log(`train ${name}`);
    const r = runOnce([...args]);
    rows.push(typeof r === 'string' ? { suite: 'train', name, medianMs: NaN, note: r }
      : { suite: 'train', name, medianMs: r.ms, 'peak MiB': r.maxRssMiB, merges: r.merges, 'held-out bytes/token': r.bytesPerToken ?? NaN });
  }
  return rows;
}

/** Binary BPE on the machine's ELF executables (/usr/bin, up to 16 MB), 8k. */
function bytesRows(log: (l: string) => void): Row[] {
  const files: string[] = [];
  let total = 0;
  for (const f of readdirSync('/usr/bin').sort()) {
    const path = join('/usr/bin', f);
    try {
      const st = statSync(path);
      if (!st.isFile() || st.size < 4096 || total + st.size > 16 << 20) continue;
      const head = readFileSync(path).subarray(0, 4);
      if (head[0] !== 0x7f || head[1] !== 0x45 || head[2] !== 0x4c || head[3] !== 0x46) continue;
      files.push(path);
      total += st.size;
    } catch {
      continue;
    }
  }
  log(`train bytes: ${files.length} ELF files, ${(total / 1e6).toFixed(1)} MB`);
  const r = runOnce(['ours', files.join(','), '8000', 'true', 'bytes']);
  const name = `ELF executables (${(total / 1e6).toFixed(1)} MB): bytes mode 8k`;
  return [typeof r === 'string' ? { suite: 'train', name, medianMs: NaN, note: r } : { suite: 'train', name, medianMs: r.ms, 'peak MiB': r.maxRssMiB, merges: r.merges }];
}

/**
 * The counting step alone (pre-tokenize and count the words of the whole
 * UDHR, cut in line-aligned pieces as Tokenizer.train cuts files) on
 * one thread and on two: the part of training that runs on threads.
 */
async function countRows(file: string, log: (l: string) => void): Promise<Row[]> {
  log('train: counting UDHR on 1 and 2 threads (5 runs each, alternating)');
  const pieces = linePieces(new Uint8Array(readFileSync(file)));
  const times: Record<number, number[]> = { 1: [], 2: [] };
  for (let r = 0; r < 5; r++)
    for (const threads of [1, 2]) {
      const counter = new (loaded().native.BpeWordCounter)('gpt2');
      const t0 = performance.now();
      await counter.addAsync(pieces, { lines: true, whole: false, threads });
      times[threads]!.push(performance.now() - t0);
    }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return [1, 2].map((threads) => ({
    suite: 'train', name: `UDHR word counting (the threaded step of training), ${threads} thread${threads > 1 ? 's' : ''}`,
    medianMs: median(times[threads]!), 'x 1 thread': median(times[1]!) / median(times[threads]!),
  }));
}

/**
 * Dynamic batch merging on UDHR: each language's declaration, cut into 8
 * sequences and encoded with o200k_base, merged with up to 64 batch-local
 * tokens; the length reduction per language, summarised.
 */
function mergeBatchRows(log: (l: string) => void): Row[] {
  log('mergeBatch: UDHR, o200k_base, 8 sequences per language, maxMerges 64');
  const tok = Tokenizer.fromEncoding('o200k_base');
  const rows: Row[] = [];
  for (const boundary of ['word', 'pretoken'] as const) {
    const reductions: [string, number][] = [];
    const t0 = performance.now();
    for (const [lang, text] of Object.entries(udhrCorpus())) {
      const size = Math.ceil(text.length / 8);
      const batch = Array.from({ length: 8 }, (_, i) => tok.encodeOrdinary(text.slice(i * size, (i + 1) * size)));
      const before = batch.reduce((n, b) => n + b.length, 0);
      const after = tok.mergeBatch(batch, { maxMerges: 64, boundary }).sequences.reduce((n, b) => n + b.length, 0);
      reductions.push([lang, 1 - after / before]);
    }
    const ms = performance.now() - t0;
    const sorted = reductions.map(([, r]) => r).sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
    const pick = (code: string) => reductions.find(([l]) => l === code)?.[1] ?? NaN;
    rows.push({
      suite: 'train', name: `mergeBatch UDHR (${reductions.length} languages), boundary ${boundary}`, medianMs: ms / reductions.length,
      'min reduction': sorted[0]!, 'median reduction': at(0.5), 'max reduction': sorted.at(-1)!,
      eng: pick('eng'), cmn: pick('cmn_hans'), hin: pick('hin'), arb: pick('arb'), rus: pick('rus'),
    });
  }
  return rows;
}

export const trainSuite: Suite = {
  name: 'train',
  description: 'BPE training, one thread, median of 3 fresh processes: llm-kernels vs tokenizers (default trainer: vocab 30000, no initial alphabet) on Brown and all of UDHR',
  async run(log) {
    const dir = mkdtempSync(join(tmpdir(), 'llmk-train-bench-'));
    const rows: Row[] = [];
    try {
      const brown = [join(packageRoot, '..', 'shared', 'data', 'text', 'brown.txt'), join(packageRoot, 'test', 'data', 'text', 'brown-sample.txt')].find(existsSync)!;
      const udhr = join(dir, 'udhr.txt');
      writeFileSync(udhr, Object.values(udhrCorpus()).join('\n'));
      for (const [label, file] of [['Brown', brown], ['UDHR (532 languages)', udhr]] as const) {
        const cases: [string, string[]][] = [
          ['llm-kernels, same configuration', ['ours', file, '30000', 'false']],
          ['llm-kernels, 8k, initial alphabet', ['ours', file, '8000', 'true']],
          ['llm-kernels, 32k, initial alphabet', ['ours', file, '32000', 'true']],
        ];
        log(`train ${label}: tokenizers and ours, 3 rounds`);
        const [hf, ...ours] = runRounds([['tokenizers', file], ...cases.map(([, args]) => args)]);
        rows.push(typeof hf === 'string'
          ? { suite: 'train', name: `${label}: tokenizers`, medianMs: NaN, note: hf }
          : { suite: 'train', name: `${label}: tokenizers default trainer (30000)`, medianMs: hf!.ms, 'x tokenizers': 1, 'peak MiB': hf!.maxRssMiB, merges: hf!.merges });
        cases.forEach(([name], k) => {
          const r = ours[k]!;
          rows.push(typeof r === 'string'
            ? { suite: 'train', name: `${label}: ${name}`, medianMs: NaN, note: r }
            : { suite: 'train', name: `${label}: ${name}`, medianMs: r.ms, 'x tokenizers': typeof hf === 'string' ? NaN : hf!.ms / r.ms, 'peak MiB': r.maxRssMiB, merges: r.merges });
        });
      }
      // Without pre-tokenization (each line one word: SuperBPE's worst case), in tokenizers' own configuration.
      log('train Brown, no pre-tokenizer: tokenizers and ours, 3 rounds');
      const [hfWhole, oursWhole] = runRounds([['tokenizers', brown, '--pattern=none'], ['ours', brown, '30000', 'false', '--pattern=none']]);
      for (const [name, r] of [['tokenizers default trainer (30000)', hfWhole!], ['llm-kernels, same configuration', oursWhole!]] as const)
        rows.push(typeof r === 'string'
          ? { suite: 'train', name: `Brown, no pre-tokenizer: ${name}`, medianMs: NaN, note: r }
          : { suite: 'train', name: `Brown, no pre-tokenizer (pattern 'none'): ${name}`, medianMs: r.ms, 'x tokenizers': typeof hfWhole === 'string' ? NaN : hfWhole!.ms / r.ms, 'peak MiB': r.maxRssMiB, merges: r.merges });
      rows.push(...superRows(brown, dir, log), ...bytesRows(log), ...(await countRows(udhr, log)));
      rows.push(...mergeBatchRows(log));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return rows;
  },
};
