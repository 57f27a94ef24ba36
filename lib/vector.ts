/**
 * The foundation's proof kernel: element-wise float32 addition. It is here to
 * show, end to end, the path every pipeline takes (argument checks, the
 * thread pool, the Promise form with AbortSignal, CPU and CUDA backends).
 *
 * @example
 *   vectorAdd(new Float32Array([1, 2]), new Float32Array([3, 4])) // Float32Array [4, 6]
 */
import { withAbort } from './async.js';
import { kernelOptions, loaded } from './native.js';
import { checkObject, checkThreads } from './options.js';

export interface VectorAddOptions {
  /** Threads for this call (default 1 for the synchronous form, setThreads() for the async one). */
  threads?: number;
}

export interface VectorAddAsyncOptions extends VectorAddOptions {
  signal?: AbortSignal;
}

export function vectorAdd(a: Float32Array, b: Float32Array, options?: VectorAddOptions): Float32Array {
  const opts = checkObject<VectorAddOptions>(options, 'options');
  return loaded().native.vectorAdd(a, b, kernelOptions(checkThreads(opts.threads)));
}

export function vectorAddAsync(a: Float32Array, b: Float32Array, options?: VectorAddAsyncOptions): Promise<Float32Array> {
  const opts = checkObject<VectorAddAsyncOptions>(options, 'options');
  const threads = checkThreads(opts.threads);
  return withAbort(opts.signal, (cancel) => loaded().native.vectorAddAsync(a, b, kernelOptions(threads, cancel)));
}
