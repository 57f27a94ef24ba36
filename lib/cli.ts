#!/usr/bin/env node
/**
 * llm-kernels command line:
 *   llm-kernels info [--json]             version, backend, CPU path, threads, CUDA devices or why none
 *   llm-kernels bench [filter] [--json]   microbenchmarks side by side with peers (suites: vector, bleu, tokenize, kv)
 */
import { info } from './runtime.js';

const USAGE = `usage: llm-kernels info [--json]
       llm-kernels bench [suite] [--json]   (suites: vector, bleu, tokenize, kv, train)
       llm-kernels premium [--encoding NAME]... [--tokenizer tokenizer.json] [--reference LANG] [--json]
                                            token counts per UDHR language and their premium over the
                                            reference (default eng); default: every built-in encoding

environment: LLM_KERNELS_BACKEND=auto|cpu|cuda, LLM_KERNELS_THREADS=n, LLM_KERNELS_SIMD=scalar`;

async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  const args = argv.filter((a) => a !== '--json');
  const [command, ...rest] = args;
  if (command === 'info') {
    const i = info();
    if (json) {
      console.log(JSON.stringify(i, null, 2));
      return 0;
    }
    console.log(`llm-kernels ${i.version} on ${i.platform}, Node ${i.node}`);
    console.log(`backend:  ${i.backend} (requested ${i.requestedBackend})${i.backendReason ? `: ${i.backendReason}` : ''}`);
    console.log(`binary:   ${i.binary} ${i.binaryPath ?? ''}`);
    console.log(`cpu path: ${i.cpuPath}${i.cpuPath === 'scalar' && i.cpuHasAvx2Fma ? ' (forced by LLM_KERNELS_SIMD)' : ''}`);
    console.log(`threads:  ${i.threads} (hardware ${i.hardwareThreads})`);
    console.log(`cuda:     ${i.cudaCompiled ? 'compiled in' : 'not compiled in'}; devices: ${i.cudaDevices.length ? i.cudaDevices.map((d) => `${d.name} (sm ${d.computeCapability})`).join(', ') : 'none'}`);
    return 0;
  }
  if (command === 'bench') {
    const { runBench, formatTable } = await import('../bench/index.js');
    const log = json ? (l: string) => console.error(l) : (l: string) => console.log(l);
    const rows = await runBench(rest[0], log);
    if (json) console.log(JSON.stringify({ info: info(), rows }, null, 2));
    else console.log(formatTable(rows));
    return 0;
  }
  if (command === 'premium') {
    const { premiumCommand } = await import('./premium-cli.js');
    return premiumCommand(rest, json);
  }
  if (command === undefined || command === 'help' || command === '--help' || command === '-h') {
    console.log(USAGE);
    return command === undefined ? 1 : 0;
  }
  console.error(`llm-kernels: unknown command '${command}'\n${USAGE}`);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => (process.exitCode = code),
  (e: Error) => {
    console.error(`llm-kernels: ${e.message}`);
    process.exitCode = 1;
  },
);
