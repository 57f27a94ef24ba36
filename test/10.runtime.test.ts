import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { getThreads, info, setThreads } from 'llm-kernels';
import { expectCode } from './helpers.js';

describe('runtime', () => {
  it('info() reports version, backend, CPU path and threads', () => {
    const i = info();
    expect(i.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(['cpu', 'cuda']).toContain(i.backend);
    expect(['avx2-fma', 'scalar']).toContain(i.cpuPath);
    expect(i.threads).toBeGreaterThanOrEqual(1);
    expect(i.hardwareThreads).toBeGreaterThanOrEqual(1);
    if (i.backend === 'cpu') expect(i.backendReason).toBeTruthy();
    if (i.cudaDevices.length === 0) expect(i.backend).toBe('cpu');
  });

  it('setThreads validates and takes effect', () => {
    const before = getThreads();
    setThreads(3);
    expect(getThreads()).toBe(3);
    expect(info().threads).toBe(3);
    setThreads(before);
    expectCode(() => setThreads(0), RangeError, 'ERR_LLMK_BAD_OPTION', /threads/);
    expectCode(() => setThreads(1.5), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => setThreads('2' as unknown as number), RangeError, 'ERR_LLMK_BAD_OPTION');
  });

  it('LLM_KERNELS_THREADS sets the default pool size', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { getThreads } from 'llm-kernels'; console.log(getThreads())"], {
      env: { ...process.env, LLM_KERNELS_THREADS: '5' },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('5');
  });

  it('LLM_KERNELS_SIMD=scalar forces the portable path', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { info } from 'llm-kernels'; console.log(info().cpuPath)"], {
      env: { ...process.env, LLM_KERNELS_SIMD: 'scalar' },
      encoding: 'utf8',
    });
    expect(r.stdout.trim()).toBe('scalar');
  });

  it('an unknown LLM_KERNELS_BACKEND is a clear error', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { info } from 'llm-kernels'; info()"], {
      env: { ...process.env, LLM_KERNELS_BACKEND: 'gpu' },
      encoding: 'utf8',
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/LLM_KERNELS_BACKEND must be 'auto', 'cpu' or 'cuda'/);
  });

  it('loads in several worker_threads at once and exits without hanging', () => {
    const script = `
      import { Worker } from 'node:worker_threads';
      const code = "import { vectorAddAsync, bleu } from 'llm-kernels'; import { parentPort } from 'node:worker_threads';" +
        "const a = new Float32Array(300000).fill(1); const r = await vectorAddAsync(a, a, { threads: 2 });" +
        "const s = await bleu.sentenceAsync([[1,2,3,4]], [[[1,2,3,5]]], { smoothing: 'method1', threads: 2 });" +
        "parentPort.postMessage(r[299999] + ':' + s[0].toFixed(6));";
      const results = await Promise.all([0, 1, 2, 3].map(() => new Promise((res, rej) => {
        const w = new Worker(code, { eval: true, type: 'module' });
        w.on('message', res); w.on('error', rej);
      })));
      console.log(results.join(','));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const parts = r.stdout.trim().split(',');
    expect(parts).toHaveLength(4);
    for (const p of parts) expect(p).toBe(parts[0]);
    expect(parts[0].startsWith('2:')).toBe(true);
  });
});
