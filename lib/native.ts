/**
 * Loads the native addon and chooses the backend.
 *
 * Two binaries can exist side by side: the CPU build (node-gyp, or the
 * prebuilt binary in prebuilds/, found by node-gyp-build) and the optional
 * CUDA build (cmake-js, build-cuda/Release/). node-gyp-build cannot pick the
 * CUDA one by name, so this module does: `auto` takes the CUDA build when it
 * loads and sees a device, and otherwise the CPU build, remembering why.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { plainError, typeError } from './errors.js';

export type Backend = 'auto' | 'cpu' | 'cuda';

export interface NativeCancelToken {
  cancel(): void;
}

export interface NativeKernelOptions {
  threads?: number;
  backend?: 'cpu' | 'cuda';
  cancel?: NativeCancelToken;
}

export interface NativeInfo {
  cpuPath: 'avx2-fma' | 'scalar';
  cpuHasAvx2Fma: boolean;
  threads: number;
  hardwareThreads: number;
  cudaCompiled: boolean;
  cudaDevices: { name: string; computeCapability: string; memoryBytes: number }[];
  cudaReason: string | null;
}

/** A built-in or loaded BPE encoding (native/addon/tokenizer.cc). */
export interface NativeBpeEncoding {
  encodeOrdinary(text: string | Uint8Array): Uint32Array;
  /** With `small`: ids that fit are written there and their count returned. */
  encodeOrdinary(text: string | Uint8Array, small: Uint32Array): Uint32Array | number;
  countOrdinary(text: string | Uint8Array, limit?: number): number;
  /** each[i]: the ids of text i, or (up to 16 ids) their count, those ids being the next ones in `small`. */
  encodeOrdinaryBatchAsync(texts: (string | Uint8Array)[], opts?: NativeKernelOptions): Promise<{ each: (Uint32Array | number)[]; small: Uint32Array }>;
  decodeBytes(ids: Uint32Array): Uint8Array;
  /** The ids' text; undefined when their bytes are not valid UTF-8. With `external`, a large text may be an external string (js_string.h). */
  decodeText(ids: Uint32Array, external?: boolean): string | undefined;
  /** For each id (they must spell the text): the UTF-16 offset where its bytes start (inside a character: that character's). */
  utf16Offsets(text: string, ids: Uint32Array): Uint32Array;
  tokenToId(token: string | Uint8Array): number;
  idToBytes(id: number): Uint8Array | null;
  mergeBatch(sequences: Uint32Array[], maxMerges: number, boundary: 'pretoken' | 'word'): { sequences: Uint32Array[]; merges: Uint32Array; tokens: Uint8Array[] };
  readonly vocabSize: number;
  readonly pattern: string;
  readonly specials: [string, number][];
}

/** The codec parameters and shape of a KV stream, as numbers (native/addon/kv.cc). */
export interface NativeKvLayout {
  dtype: 0 | 1 | 2;
  mode: 0 | 1;
  kind: 0 | 1 | 2;
  bits: number;
  maxError: number;
  /** Lossy codes bit-packed, not entropy-coded (the `entropy: false` option). */
  packed: boolean;
  layers: number;
  heads: number;
  tokens: number;
  headDim: number;
  hasLayers: boolean;
  tileTokens: number;
}

export type KvTensorData = Float32Array | Uint16Array;

export interface NativeKvStreamEncoder {
  append(data: KvTensorData, tokens: number): void;
  bytes(): Uint8Array;
  readonly tokens: number;
}

export interface NativeKvDecoded {
  data: KvTensorData;
  layout: NativeKvLayout;
  streamTokens: number;
}

/** Pre-token counts and BPE training (native/addon/bpe_train.cc). */
export interface NativeBpeWordCounter {
  addAsync(texts: (string | Uint8Array)[], opts?: NativeKernelOptions & { lines?: boolean; whole?: boolean }): Promise<void>;
  trainAsync(opts: {
    vocabSize: number; minFrequency: number; initialAlphabet: boolean; specialCount: number; specials: Uint8Array[];
    byteOrder: boolean; maxTokenBytes: number; transition: number; cancel?: NativeCancelToken;
  }, superwords?: NativeBpeWordCounter): Promise<{ tokens: Uint8Array; lengths: Uint32Array; merges: Uint32Array }>;
  progress(): [number, number];
}

/** The functions the addon exports (native/addon/). */
export interface NativeBinding {
  CancelToken: new () => NativeCancelToken;
  BpeEncoding: new (data: Uint8Array) => NativeBpeEncoding;
  BpeWordCounter: new (pattern: 'gpt2' | 'cl100k' | 'o200k' | 'whole' | 'superword') => NativeBpeWordCounter;
  KvStreamEncoder: new (layout: NativeKvLayout) => NativeKvStreamEncoder;
  info(): NativeInfo;
  setThreads(n: number): void;
  getThreads(): number;
  vectorAdd(a: Float32Array, b: Float32Array, opts?: NativeKernelOptions): Float32Array;
  vectorAddAsync(a: Float32Array, b: Float32Array, opts?: NativeKernelOptions): Promise<Float32Array>;
  bleuStats(
    candTokens: Uint32Array, candOffsets: Uint32Array, refTokens: Uint32Array, refOffsets: Uint32Array,
    refGroups: Uint32Array, opts?: NativeKernelOptions & { maxOrder?: number },
  ): Uint32Array;
  bleuStatsAsync(
    candTokens: Uint32Array, candOffsets: Uint32Array, refTokens: Uint32Array, refOffsets: Uint32Array,
    refGroups: Uint32Array, opts?: NativeKernelOptions & { maxOrder?: number },
  ): Promise<Uint32Array>;
  kvEncode(data: KvTensorData, layout: NativeKvLayout, opts?: NativeKernelOptions): Uint8Array;
  kvEncodeAsync(data: KvTensorData, layout: NativeKvLayout, opts?: NativeKernelOptions): Promise<Uint8Array>;
  kvDecode(bytes: Uint8Array, opts?: NativeKernelOptions & { tokens?: number }): NativeKvDecoded;
  kvDecodeAsync(bytes: Uint8Array, opts?: NativeKernelOptions & { tokens?: number }): Promise<NativeKvDecoded>;
  kvInspect(bytes: Uint8Array): { layout: NativeKvLayout; tileBytes: Float64Array };
}

export interface LoadedBackend {
  /** What was asked for (option, then LLM_KERNELS_BACKEND, then 'auto'). */
  requested: Backend;
  /** Where kernels run. */
  backend: 'cpu' | 'cuda';
  /** Which binary is loaded: the CUDA build, or the CPU build / prebuild. */
  binary: 'cuda-build' | 'cpu-build';
  /** Path of the loaded .node file, when known. */
  path: string | null;
  /** Why CUDA is not used, or null when it is. */
  reason: string | null;
  native: NativeBinding;
}

export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
export const cudaBinaryPath = join(packageRoot, 'build-cuda', 'Release', 'llm_kernels.node');

let cpuBinding: { native: NativeBinding; path: string | null } | undefined;
let cudaBinding: { native: NativeBinding } | { error: string } | undefined;
let current: LoadedBackend | undefined;

function loadCpu(): { native: NativeBinding; path: string | null } {
  // LLM_KERNELS_BINARY names a CPU binary to load instead (the sanitizer build, a debug build).
  const override = process.env.LLM_KERNELS_BINARY;
  if (!cpuBinding && override) cpuBinding = { native: require(resolve(override)) as NativeBinding, path: resolve(override) };
  if (!cpuBinding) {
    const nodeGypBuild = require('node-gyp-build') as ((dir: string) => NativeBinding) & { resolve?: (dir: string) => string };
    let path: string | null = null;
    try {
      path = nodeGypBuild.resolve ? nodeGypBuild.resolve(packageRoot) : null;
    } catch {
      path = null;
    }
    try {
      cpuBinding = { native: nodeGypBuild(packageRoot), path };
    } catch (e) {
      throw plainError(
        'ERR_LLMK_NATIVE_LOAD',
        `llm-kernels: no native binary for ${process.platform}-${process.arch} (Node ${process.version}). ` +
          `The published prebuild covers linux-x64 with glibc; elsewhere run \`npm rebuild llm-kernels\` ` +
          `with a C++17 compiler and Python installed. Cause: ${(e as Error).message}`,
      );
    }
  }
  return cpuBinding;
}

function loadCuda(): { native: NativeBinding } | { error: string } {
  if (!cudaBinding) {
    if (!existsSync(cudaBinaryPath)) {
      cudaBinding = { error: 'no CUDA build (run `npm run build:cuda` where nvcc is installed)' };
    } else {
      try {
        cudaBinding = { native: require(cudaBinaryPath) as NativeBinding };
      } catch (e) {
        cudaBinding = { error: `the CUDA build failed to load: ${(e as Error).message}` };
      }
    }
  }
  return cudaBinding;
}

function parseBackend(value: unknown, source: string): Backend {
  if (value === 'auto' || value === 'cpu' || value === 'cuda') return value;
  throw typeError('ERR_LLMK_BAD_OPTION', `${source} must be 'auto', 'cpu' or 'cuda', got ${JSON.stringify(value)}`);
}

function select(requested: Backend): LoadedBackend {
  if (requested === 'cpu') {
    const cpu = loadCpu();
    return { requested, backend: 'cpu', binary: 'cpu-build', path: cpu.path, reason: "backend 'cpu' was requested", native: cpu.native };
  }
  const cuda = loadCuda();
  let reason: string;
  if ('native' in cuda) {
    const info = cuda.native.info();
    if (info.cudaDevices.length > 0)
      return { requested, backend: 'cuda', binary: 'cuda-build', path: cudaBinaryPath, reason: null, native: cuda.native };
    reason = info.cudaReason ?? 'no CUDA device';
    // The CUDA build carries every CPU kernel too: without a device it runs them.
    if (requested === 'auto')
      return { requested, backend: 'cpu', binary: 'cuda-build', path: cudaBinaryPath, reason, native: cuda.native };
  } else {
    reason = cuda.error;
  }
  if (requested === 'cuda')
    throw plainError('ERR_LLMK_NO_CUDA_DEVICE', `backend 'cuda' is not available: ${reason}`);
  const cpu = loadCpu();
  return { requested, backend: 'cpu', binary: 'cpu-build', path: cpu.path, reason, native: cpu.native };
}

/** The loaded backend, chosen on first use. */
export function loaded(): LoadedBackend {
  if (!current) current = select(parseBackend(process.env.LLM_KERNELS_BACKEND ?? 'auto', 'LLM_KERNELS_BACKEND'));
  return current;
}

/**
 * Chooses where kernels run: 'auto' (CUDA when a device is present, else
 * CPU), 'cpu', or 'cuda' (throws ERR_LLMK_NO_CUDA_DEVICE when unavailable).
 * Overrides the LLM_KERNELS_BACKEND environment variable.
 */
export function setBackend(backend: Backend): LoadedBackend {
  current = select(parseBackend(backend, 'backend'));
  return current;
}

/** Options every kernel call passes down: where to run, and the cancel token. */
export function kernelOptions(threads: number | undefined, cancel?: NativeCancelToken): NativeKernelOptions {
  const b = loaded();
  const opts: NativeKernelOptions = { backend: b.backend };
  if (threads !== undefined) opts.threads = threads;
  if (cancel) opts.cancel = cancel;
  return opts;
}
