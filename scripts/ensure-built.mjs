// Run before the tests: compile the TypeScript, and the native addon unless a
// usable binary exists (an up-to-date build/, or a prebuild for this platform).
import { execSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const run = (cmd) => execSync(cmd, { stdio: 'inherit' });

if (existsSync('build/config.gypi')) {
  run('npx node-gyp build'); // incremental: picks up edited sources
} else {
  try {
    require('node-gyp-build').resolve(process.cwd());
  } catch {
    run('npx node-gyp rebuild');
  }
}
run('npx tsc -p tsconfig.json');
run('node scripts/build-encodings.mjs');
