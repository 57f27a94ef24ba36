/**
 * One training run in its own process, so that its peak memory can be read:
 * `node train-child.js <ours|tokenizers> <file> [vocabSize] [initialAlphabet]`.
 * Prints { ms, maxRssMiB, vocab, merges } as JSON.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from 'llm-kernels';

const [trainer, file, vocab = '30000', alphabet = 'false'] = process.argv.slice(2);
const t0 = performance.now();
let vocabSize: number;
let merges: number;
if (trainer === 'tokenizers') {
  const hf = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
  const tok = new hf.Tokenizer(hf.BPE.empty());
  tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, true));
  tok.train([file!]);
  vocabSize = tok.getVocabSize(true);
  const out = `${file}.tokenizers.json`;
  tok.save(out);
  merges = (JSON.parse(readFileSync(out, 'utf8')) as { model: { merges: unknown[] } }).model.merges.length;
} else {
  const tok = await Tokenizer.train({ files: [file!] }, { vocabSize: Number(vocab), initialAlphabet: alphabet === 'true', threads: 1 });
  vocabSize = tok.vocabSize;
  merges = (JSON.parse(tok.toHuggingFace()) as { model: { merges: unknown[] } }).model.merges.length;
}
const ms = performance.now() - t0;
console.log(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, vocab: vocabSize, merges }));
