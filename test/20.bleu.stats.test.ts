import { describe, expect, it } from 'vitest';
import { bleu, bleuReferenceStats, type BleuOptions } from 'llm-kernels';
import { expectCode, freshSeed, rng } from './helpers.js';

/** A ragged batch with 1..maxRefs noisy references per candidate; ids drawn from `ids`. */
function randomBatch(r: () => number, count: number, maxLen: number, ids: Uint32Array, maxRefs: number) {
  const pick = () => ids[r() % ids.length];
  const cands: Uint32Array[] = [];
  const refs: Uint32Array[][] = [];
  for (let i = 0; i < count; i++) {
    const cand = Uint32Array.from({ length: r() % (maxLen + 1) }, pick);
    const list: Uint32Array[] = [];
    for (let j = 0, n = 1 + (r() % maxRefs); j < n; j++) {
      const ref: number[] = [];
      for (const t of cand) {
        const x = r() % 100;
        if (x < 30) ref.push(pick());
        else if (x < 35) continue;
        else if (x < 40) ref.push(t, pick());
        else ref.push(t);
      }
      if (r() % 10 === 0) ref.length = r() % (ref.length + 1); // truncated, sometimes empty
      list.push(Uint32Array.from(ref));
    }
    cands.push(cand);
    refs.push(list);
  }
  return { cands, refs };
}

function flatten(s: { matches: Uint32Array; totals: Uint32Array; hypLen: Uint32Array; refLen: Uint32Array }) {
  return { matches: [...s.matches], totals: [...s.totals], hypLen: [...s.hypLen], refLen: [...s.refLen] };
}

function reference(cands: Uint32Array[], refs: Uint32Array[][], order: number) {
  const r = bleuReferenceStats(cands, refs, order);
  return { matches: r.matches.flat(), totals: r.totals.flat(), hypLen: r.hypLen, refLen: r.refLen };
}

describe('BLEU statistics kernel against the TypeScript reference', () => {
  const seed = freshSeed('bleu stats');
  const vocabularies: [string, Uint32Array][] = [
    ['3 ids (many repeats)', Uint32Array.of(0, 1, 2)],
    ['id 0 and 2^32-1', Uint32Array.of(0, 0xffffffff, 7, 0x80000000)],
    ['50k ids', Uint32Array.from({ length: 50000 }, (_, i) => i)],
    ['random 32-bit ids', Uint32Array.from({ length: 1000 }, rng(seed ^ 0x5bd1e995))],
  ];
  it.each(vocabularies)('vocabulary: %s', async (_name, ids) => {
    const r = rng(seed + ids.length);
    for (let round = 0; round < 12; round++) {
      const order = 1 + (round % 6);
      const { cands, refs } = randomBatch(r, 1 + (r() % 40), 1 + (r() % 120), ids, 1 + (round % 4));
      const want = reference(cands, refs, order);
      expect(flatten(bleu.stats(cands, refs, { maxOrder: order }))).toEqual(want);
      expect(flatten(bleu.stats(cands, refs, { maxOrder: order, threads: 2 }))).toEqual(want);
      expect(flatten(await bleu.statsAsync(cands, refs, { maxOrder: order }))).toEqual(want);
    }
  });

  it('long candidates with many distinct n-grams (32- and 64-bit n-gram keys) match the reference', () => {
    const r = rng(seed ^ 0x2545f491);
    // Candidate i: a random run over a large vocabulary, repeated in part so
    // that n-grams recur; references are overlapping slices of it plus noise.
    const cands: Uint32Array[] = [];
    const refs: Uint32Array[][] = [];
    for (const length of [3000, 80000]) {
      const run = Uint32Array.from({ length: (length * 3) / 4 }, () => r() % (1 << 20));
      const cand = new Uint32Array(length);
      cand.set(run);
      cand.set(run.subarray(0, length - run.length), run.length);
      for (let k = 0; k < length; k += 1 + (r() % 50)) cand[k] = r() % 7;
      cands.push(cand);
      const noisy = cand.slice(length / 10);
      for (let k = 0; k < noisy.length; k += 1 + (r() % 20)) noisy[k] = r() % 7;
      refs.push([cand.slice(0, (length * 2) / 3), noisy]);
    }
    for (const order of [1, 4, 7]) expect(flatten(bleu.stats(cands, refs, { maxOrder: order }))).toEqual(reference(cands, refs, order));
  });

  it('packed input gives the same statistics as arrays; number[] works too', () => {
    const r = rng(seed + 1);
    const { cands, refs } = randomBatch(r, 30, 50, Uint32Array.from({ length: 20 }, (_, i) => i), 3);
    const offsets = new Uint32Array(cands.length + 1);
    cands.forEach((c, i) => (offsets[i + 1] = offsets[i] + c.length));
    const tokens = new Uint32Array(offsets[cands.length]);
    cands.forEach((c, i) => tokens.set(c, offsets[i]));
    const flatRefs = refs.flat();
    const refOffsets = new Uint32Array(flatRefs.length + 1);
    flatRefs.forEach((c, i) => (refOffsets[i + 1] = refOffsets[i] + c.length));
    const refTokens = new Uint32Array(refOffsets[flatRefs.length]);
    flatRefs.forEach((c, i) => refTokens.set(c, refOffsets[i]));
    const groups = new Uint32Array(cands.length + 1);
    refs.forEach((l, i) => (groups[i + 1] = groups[i] + l.length));
    const want = flatten(bleu.stats(cands, refs));
    expect(flatten(bleu.stats({ tokens, offsets }, { tokens: refTokens, offsets: refOffsets, groups }))).toEqual(want);
    expect(flatten(bleu.stats(cands.map((c) => [...c]), refs.map((l) => l.map((x) => [...x]))))).toEqual(want);
  });

  it('scores do not depend on the numbering of tokens (0 included)', () => {
    const r = rng(seed + 2);
    const ids = Uint32Array.from({ length: 30 }, (_, i) => i);
    const { cands, refs } = randomBatch(r, 40, 60, ids, 3);
    // a random bijection of the ids in use, mapping some onto 0 and 2^32-1
    const perm = Uint32Array.from({ length: 30 }, (_, i) => i * 0x9e3779b1);
    perm[5] = 0;
    perm[0] = 0xffffffff;
    const relabel = (s: Uint32Array) => s.map((t) => perm[t]);
    const cands2 = cands.map(relabel);
    const refs2 = refs.map((l) => l.map(relabel));
    const configs: BleuOptions[] = [
      { smoothing: 'method0' }, { smoothing: 'method1' }, { smoothing: 'method4' }, { smoothing: 'method7' },
      { flavor: 'sacrebleu' }, { flavor: 'sacrebleu', smoothing: 'add-k' },
    ];
    expect(flatten(bleu.stats(cands2, refs2))).toEqual(flatten(bleu.stats(cands, refs)));
    for (const o of configs) {
      expect([...bleu.sentence(cands2, refs2, o)]).toEqual([...bleu.sentence(cands, refs, o)]);
      expect(bleu.corpus(cands2, refs2, o)).toEqual(bleu.corpus(cands, refs, o));
    }
  });

  it('handles empty batches, empty hypotheses and empty references', () => {
    expect(bleu.sentence([], []).length).toBe(0);
    expect(bleu.corpus([], []).score).toBe(0);
    const s = bleu.stats([[], [1]], [[[]], [[], [1, 2]]]);
    expect(flatten(s)).toEqual({ hypLen: [0, 1], refLen: [0, 0], matches: [0, 0, 0, 0, 1, 0, 0, 0], totals: [0, 0, 0, 0, 1, 0, 0, 0] });
    // NLTK: sentence_bleu([[]], []) == 0 and sentence_bleu([[], [1, 2]], [1]) == 1.821831989445342e-231
    // (the tie between reference lengths 0 and 2 goes to 0, so no brevity penalty; method0's floor per missing order)
    expect([...bleu.sentence([[], [1]], [[[]], [[], [1, 2]]])]).toEqual([0, 1.821831989445342e-231]);
  });

  it('rejects bad shapes and options with coded errors', () => {
    const c = [Uint32Array.of(1, 2)];
    const rr = [[Uint32Array.of(1, 2)]];
    expectCode(() => bleu.sentence(c, []), RangeError, 'ERR_LLMK_BAD_SHAPE', /one entry per candidate/);
    expectCode(() => bleu.sentence(c, [[]]), RangeError, 'ERR_LLMK_BAD_SHAPE', /at least one reference/);
    expectCode(() => bleu.sentence(c, [Uint32Array.of(1)] as never), TypeError, 'ERR_LLMK_BAD_ARGUMENT', /references\[0\]/);
    expectCode(() => bleu.sentence([[1, -1]], rr), RangeError, 'ERR_LLMK_BAD_ARGUMENT', /candidates\[0\]\[1\]/);
    expectCode(() => bleu.sentence([[1.5]], rr), RangeError, 'ERR_LLMK_BAD_ARGUMENT');
    expectCode(() => bleu.sentence('x' as never, rr), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
    const packed = { tokens: Uint32Array.of(1, 2, 3), offsets: Uint32Array.of(0, 5) };
    expectCode(() => bleu.sentence(packed, rr), RangeError, 'ERR_LLMK_BAD_SHAPE', /candidate offsets must end at 3/);
    const refsPacked = { tokens: Uint32Array.of(1), offsets: Uint32Array.of(0, 1), groups: Uint32Array.of(0, 2) };
    expectCode(() => bleu.sentence(c, refsPacked), RangeError, 'ERR_LLMK_BAD_SHAPE', /reference groups/);
    const down = { tokens: Uint32Array.of(1, 2), offsets: Uint32Array.of(0, 2, 1, 2) };
    expectCode(() => bleu.stats(down, { tokens: Uint32Array.of(1, 1, 1), offsets: Uint32Array.of(0, 1, 2, 3), groups: Uint32Array.of(0, 1, 2, 3) }), RangeError, 'ERR_LLMK_BAD_SHAPE', /non-decreasing/);
    expectCode(() => bleu.sentence(c, rr, { maxOrder: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION', /maxOrder/);
    expectCode(() => bleu.sentence(c, rr, { weights: [0.5, 0.5], maxOrder: 4 }), RangeError, 'ERR_LLMK_BAD_OPTION', /weights/);
    // eslint-disable-next-line no-sparse-arrays
    expectCode(() => bleu.sentence(c, rr, { weights: [0.5, , 0.5] as never, maxOrder: 3 }), RangeError, 'ERR_LLMK_BAD_OPTION', /weights\[1\]/); // a hole is no weight
    expectCode(() => bleu.sentence(c, rr, { smoothing: 'exp' }), RangeError, 'ERR_LLMK_BAD_OPTION', /method0/);
    expectCode(() => bleu.sentence(c, rr, { flavor: 'sacrebleu', smoothing: 'method1' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => bleu.sentence(c, rr, { flavor: 'sacrebleu', weights: [1] }), RangeError, 'ERR_LLMK_BAD_OPTION', /nltk flavor only/);
    expectCode(() => bleu.sentence(c, rr, { smothing: 'method1' } as never), RangeError, 'ERR_LLMK_BAD_OPTION', /unknown BLEU option 'smothing'/);
    expectCode(() => bleu.sentence(c, rr, { smoothing: 'method6' }), RangeError, 'ERR_LLMK_BLEU_SMOOTHING', /trigram/);
  });

  it('statsAsync honours an AbortSignal', async () => {
    const r = rng(seed + 3);
    const { cands, refs } = randomBatch(r, 4000, 400, Uint32Array.from({ length: 50 }, (_, i) => i), 1);
    const ac = new AbortController();
    const p = bleu.sentenceAsync(cands, refs, { threads: 1, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toMatchObject({ name: 'AbortError' });
  });
});
