/**
 * One training run in its own process, so that its peak memory can be read:
 *   node train-child.js tokenizers <file> [--pattern=none]
 *   node train-child.js ours <file> <vocabSize> <initialAlphabet> [mode] [transition] [heldOutFile] [--pattern=none]
 * --pattern=none: no pre-tokenizer (tokenizers' ByteLevel with use_regex false).
 * Prints { ms, maxRssMiB, vocab, merges, bytesPerToken? } as JSON.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Tokenizer } from 'llm-kernels';

const args = process.argv.slice(2);
const whole = args.includes('--pattern=none');
const [trainer, file, vocab = '30000', alphabet = 'false', mode = 'bpe', transition, heldOut] = args.filter((a) => !a.startsWith('--'));
const t0 = performance.now();
let vocabSize: number;
let merges: number;
let bytesPerToken: number | undefined;
let ms: number; // training alone: the clock stops before any saving or measuring
if (trainer === 'tokenizers') {
  const hf = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');
  const tok = new hf.Tokenizer(hf.BPE.empty());
  tok.setPreTokenizer(hf.byteLevelPreTokenizer(false, !whole));
  tok.train([file!]);
  ms = performance.now() - t0;
  vocabSize = tok.getVocabSize(true);
  const out = `${file}.tokenizers.json`;
  tok.save(out);
  merges = (JSON.parse(readFileSync(out, 'utf8')) as { model: { merges: unknown[] } }).model.merges.length;
} else {
  const tok = await Tokenizer.train({ files: file!.split(',') }, {
    vocabSize: Number(vocab), initialAlphabet: alphabet === 'true', threads: 1, mode: mode as 'bpe', ...(whole ? { pattern: 'none' as const } : {}),
    ...(transition ? { transition: Number(transition) } : {}),
  });
  ms = performance.now() - t0;
  vocabSize = tok.vocabSize;
  merges = (JSON.parse(tok.toHuggingFace()) as { model: { merges: unknown[] } }).model.merges.length;
  if (heldOut) {
    const text = readFileSync(heldOut);
    bytesPerToken = text.length / tok.encodeOrdinary(text.toString('utf8')).length;
  }
}
console.log(JSON.stringify({ ms, maxRssMiB: process.resourceUsage().maxRSS / 1024, vocab: vocabSize, merges, bytesPerToken }));
