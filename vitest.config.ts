import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Native addons and child processes: separate processes keep a crash in one file from hiding the others.
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
