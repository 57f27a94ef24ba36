/** A thin layer over tinybench: run tasks, report medians and ratios. */
import { Bench } from 'tinybench';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

export interface Row {
  suite: string;
  name: string;
  /** Median time of one call, in milliseconds. */
  medianMs: number;
  /** Extra columns: throughput, ratios, notes. */
  [column: string]: string | number;
}

export interface Suite {
  name: string;
  description: string;
  run(log: (line: string) => void): Promise<Row[]>;
}

/** Median latency (ms) of each task, measured by tinybench for about `timeMs` each. */
export async function medians(tasks: Record<string, () => unknown>, timeMs = 1000, minIterations = 10): Promise<Record<string, number>> {
  const bench = new Bench({ time: timeMs, iterations: minIterations, warmupTime: 100, warmupIterations: 2 });
  for (const [name, fn] of Object.entries(tasks)) bench.add(name, fn);
  await bench.run();
  const out: Record<string, number> = {};
  for (const task of bench.tasks) {
    const r = task.result;
    if (r.state !== 'completed') throw new Error(`benchmark task ${task.name} did not complete (${r.state})`);
    out[task.name] = r.latency.p50;
  }
  return out;
}

/** A full garbage collection (V8's `gc`, exposed at load without a command-line flag). */
export const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/**
 * Run before each contender's timing so that no contender pays for another's garbage: a full
 * collection, then a pause for the collector's background threads (sweeping a large heap
 * evicts the timed code's tables from the shared cache).
 */
export async function settle(): Promise<void> {
  gc();
  await new Promise((resolve) => setTimeout(resolve, 200));
}

export function formatTable(rows: Row[]): string {
  if (rows.length === 0) return '(no rows)';
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((c) => c !== 'suite');
  const cell = (v: unknown) => (typeof v === 'number' ? (Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3)) : String(v ?? ''));
  const lines = [columns, ...rows.map((r) => columns.map((c) => cell(r[c])))];
  const widths = columns.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  return lines.map((l, j) => '| ' + l.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |' + (j === 0 ? '\n|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|' : '')).join('\n');
}
