// Converts the rank data of the built-in encodings (MIT-licensed by OpenAI,
// as shipped in the `tiktoken` npm package's encoders/*.json) into the
// compact binary form the package ships in encodings/. Run at `npm install`
// (prepare, after the TypeScript is compiled: the format's writer is
// lib/tokenize/tiktoken-file.ts) and before packing; the output is not
// committed.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);
const out = new URL('../encodings/', import.meta.url);
const NAMES = ['r50k_base', 'p50k_base', 'cl100k_base', 'o200k_base'];

let source;
try {
  source = dirname(require.resolve('tiktoken/encoders/cl100k_base.json'));
} catch {
  if (NAMES.every((n) => existsSync(new URL(`${n}.bin`, out))) && existsSync(new URL('models.json', out))) process.exit(0); // an installed package: data already built
  console.error('build-encodings: the tiktoken package (a devDependency) is needed to build encodings/');
  process.exit(1);
}

const { encodingData } = await import('../dist/lib/tokenize/tiktoken-file.js');
mkdirSync(out, { recursive: true });
for (const name of NAMES) {
  const json = JSON.parse(readFileSync(join(source, `${name}.json`), 'utf8'));
  const ranks = new Map();
  for (const line of json.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offset, ...tokens] = line.split(' ');
    tokens.forEach((t, i) => ranks.set(Number(offset) + i, Buffer.from(t, 'base64')));
  }
  writeFileSync(new URL(`${name}.bin`, out), encodingData(ranks, json.pat_str, json.special_tokens));
}
// tiktoken's exact model-name table (prefix rules live in lib/tokenize/encodings.ts).
writeFileSync(new URL('models.json', out), readFileSync(join(source, '..', 'model_to_encoding.json')));
console.log(`build-encodings: wrote encodings/{${NAMES.join(',')}}.bin and models.json`);
