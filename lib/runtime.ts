/** Facts about the loaded binary, and the thread pool's default size. */
import { createRequire } from 'node:module';
import { loaded, type Backend } from './native.js';
import { checkInt } from './options.js';

export interface Info {
  version: string;
  /** Where kernels run now. */
  backend: 'cpu' | 'cuda';
  requestedBackend: Backend;
  binary: 'cuda-build' | 'cpu-build';
  binaryPath: string | null;
  /** Why CUDA is not in use, or null when it is. */
  backendReason: string | null;
  /** The SIMD path chosen at run time: 'avx2-fma' or 'scalar'. */
  cpuPath: 'avx2-fma' | 'scalar';
  /** Whether the CPU has AVX2 and FMA (the path may still be forced to scalar). */
  cpuHasAvx2Fma: boolean;
  threads: number;
  hardwareThreads: number;
  cudaCompiled: boolean;
  cudaDevices: { name: string; computeCapability: string; memoryBytes: number }[];
  platform: string;
  node: string;
}

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

/** What is loaded and where kernels run: `llm-kernels info` prints this. */
export function info(): Info {
  const b = loaded();
  const n = b.native.info();
  return {
    version,
    backend: b.backend,
    requestedBackend: b.requested,
    binary: b.binary,
    binaryPath: b.path,
    backendReason: b.reason,
    cpuPath: n.cpuPath,
    cpuHasAvx2Fma: n.cpuHasAvx2Fma,
    threads: n.threads,
    hardwareThreads: n.hardwareThreads,
    cudaCompiled: n.cudaCompiled,
    cudaDevices: n.cudaDevices,
    platform: `${process.platform}-${process.arch}`,
    node: process.version,
  };
}

/**
 * Sets how many threads asynchronous calls use by default (initially the
 * LLM_KERNELS_THREADS environment variable, else the number of cores).
 * Synchronous calls stay on one thread unless given a `threads` option.
 */
export function setThreads(n: number): void {
  loaded().native.setThreads(checkInt(n, 'threads', 1, 1024));
}

export function getThreads(): number {
  return loaded().native.getThreads();
}
