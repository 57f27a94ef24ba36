/** vectorAdd: the foundation kernel against a plain JavaScript loop. */
import { vectorAdd, vectorAddAsync, getThreads } from 'llm-kernels';
import { medians, type Suite } from './harness.js';

export const vectorSuite: Suite = {
  name: 'vector',
  description: 'float32 a + b, 4M elements: native (1 thread, async pool) vs a JS loop',
  async run() {
    const n = 4 * 1024 * 1024;
    const a = new Float32Array(n).fill(1.5);
    const b = new Float32Array(n).fill(2.25);
    const threads = getThreads();
    // Each contender allocates its result, as vectorAdd does.
    const m = await medians({
      'js loop': () => {
        const out = new Float32Array(n);
        for (let i = 0; i < n; i++) out[i] = a[i] + b[i];
        return out;
      },
      'vectorAdd (1 thread)': () => vectorAdd(a, b),
      [`vectorAddAsync (${threads} threads)`]: () => vectorAddAsync(a, b, { threads }),
    });
    const gb = (3 * n * 4) / 1e9;
    return Object.entries(m).map(([name, ms]) => ({
      suite: 'vector', name, medianMs: ms, 'GB/s': gb / (ms / 1e3), 'vs js loop': m['js loop'] / ms,
    }));
  },
};
