// Converts the rank data of the built-in encodings (MIT-licensed by OpenAI,
// as shipped in the `tiktoken` npm package's encoders/*.json) into the
// compact binary form the package ships in encodings/. Run at `npm install`
// (prepare) and before packing; the output is not committed.
//
// Format (little-endian): "LLMKBPE\x01", u32 rank count, u32 pattern length,
// pattern (UTF-8), u32 special count, per special {u32 id, u16 length, bytes},
// then per rank {u8 length (0: no token has this rank), bytes}.
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

mkdirSync(out, { recursive: true });
for (const name of NAMES) {
  const json = JSON.parse(readFileSync(join(source, `${name}.json`), 'utf8'));
  const ranks = new Map();
  for (const line of json.bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offset, ...tokens] = line.split(' ');
    tokens.forEach((t, i) => ranks.set(Number(offset) + i, Buffer.from(t, 'base64')));
  }
  let count = 0;
  for (const r of ranks.keys()) count = Math.max(count, r + 1);
  const parts = [];
  const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
  const u16 = (v) => { const b = Buffer.alloc(2); b.writeUInt16LE(v); return b; };
  const pattern = Buffer.from(json.pat_str, 'utf8');
  parts.push(Buffer.from('LLMKBPE\x01', 'latin1'), u32(count), u32(pattern.length), pattern);
  const specials = Object.entries(json.special_tokens);
  parts.push(u32(specials.length));
  for (const [text, id] of specials) {
    const bytes = Buffer.from(text, 'utf8');
    parts.push(u32(id), u16(bytes.length), bytes);
  }
  for (let r = 0; r < count; r++) {
    const bytes = ranks.get(r) ?? Buffer.alloc(0);
    if (bytes.length > 255) throw new Error(`${name}: token ${r} is longer than 255 bytes`);
    parts.push(Buffer.from([bytes.length]), bytes);
  }
  writeFileSync(new URL(`${name}.bin`, out), Buffer.concat(parts));
}
// tiktoken's exact model-name table (prefix rules live in lib/tokenize/encodings.ts).
writeFileSync(new URL('models.json', out), readFileSync(join(source, '..', 'model_to_encoding.json')));
console.log(`build-encodings: wrote encodings/{${NAMES.join(',')}}.bin and models.json`);
