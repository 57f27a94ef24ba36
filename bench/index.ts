/** Every benchmark suite, for `llm-kernels bench [filter] [--json]`. */
import { bleuSuite } from './bleu.js';
import { formatTable, type Row, type Suite } from './harness.js';
import { kvSuite } from './kv.js';
import { trainSuite } from './train.js';
import { tokenizeSuite } from './tokenize.js';
import { vectorSuite } from './vector.js';

export const suites: Suite[] = [vectorSuite, bleuSuite, tokenizeSuite, kvSuite, trainSuite];

export async function runBench(filter: string | undefined, log: (line: string) => void): Promise<Row[]> {
  const chosen = suites.filter((s) => !filter || s.name.includes(filter));
  if (chosen.length === 0) throw new Error(`no benchmark suite matches '${filter}' (suites: ${suites.map((s) => s.name).join(', ')})`);
  const rows: Row[] = [];
  for (const s of chosen) {
    log(`# ${s.name}: ${s.description}`);
    rows.push(...(await s.run(log)));
  }
  return rows;
}

export { formatTable };
