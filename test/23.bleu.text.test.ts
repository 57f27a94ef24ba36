// Expected values are sacreBLEU's own published test cases (sacrebleu/test/test_bleu.py and
// test_sentence_bleu.py, sacreBLEU 2.x), not values computed here.
import { describe, expect, it } from 'vitest';
import { bleu } from 'llm-kernels';
import { expectCode } from './helpers.js';

// sacreBLEU takes reference streams; our API takes references per hypothesis.
const streams = [
  ['The dog bit the man.', 'It was not unexpected.', 'The man bit him first.'],
  ['The dog had bit the man.', 'No one was surprised.', 'The man had bitten the dog.'],
];
const perHypothesis = streams[0].map((_, i) => streams.map((s) => s[i]));
const hyps = ['The dog bit the man.', "It wasn't surprising.", 'The man had just bitten him.'];

describe('bleu.text against sacreBLEU test_bleu.py', () => {
  it.each([
    [{}, 48.530827],
    [{ tokenize: 'none' as const }, 49.1919566],
    [{ tokenize: '13a' as const }, 48.530827],
    [{ tokenize: 'intl' as const }, 43.91623493],
    [{ smoothing: 'none' as const }, 48.530827],
  ])('corpus_bleu %o', (opts, want) => {
    expect(Math.abs(bleu.text(hyps, perHypothesis, opts).score - want)).toBeLessThan(1e-6);
  });

  it('empty hypotheses are scored, not removed', () => {
    expect(bleu.text(['', '', ''], perHypothesis).score).toBe(0);
  });

  // raw_corpus_bleu = corpus_bleu(..., smooth_method='floor', tokenize='none', use_effective_order=True)
  const raw = (smoothValue: number) => ({ tokenize: 'none' as const, smoothing: 'floor' as const, smoothValue, effectiveOrder: true });

  it('raw_corpus_bleu statistics and default floor offset (test_statistics, test_offset)', () => {
    const r = bleu.text(['am I am a character sequence'], [['I am a symbol string sequence a a']], raw(0.01));
    expect(r.matches).toEqual([4, 2, 1, 0]);
    expect(r.totals).toEqual([6, 5, 4, 3]);
    const withDefault = bleu.text(['am I am a character sequence'], [['I am a symbol string sequence a a']], { ...raw(0.1), smoothValue: undefined });
    expect(Math.abs(withDefault.score / 100 - 0.1555722182)).toBeLessThan(1e-8);
    expect(bleu.text(['am I am a character sequence'], [['I am a symbol string sequence a a']], raw(0)).score).toBe(0);
  });

  it('raw_corpus_bleu cases (test_raw_bleu)', () => {
    // The 1.x-era case (['this is a test', 'another test'] vs ['ref1', 'ref2']) = 0.0038 predates
    // sacreBLEU 2's early stop when nothing matches (#141), which the golden data (2.6) confirms: 0.
    expect(bleu.text(['this is a test', 'another test'], [['ref1'], ['ref2']], raw(0.01)).score).toBe(0);
    expect(Math.abs(bleu.text(['this is a test'], [['this is a test']], raw(0.01)).score / 100 - 1)).toBeLessThan(1e-8);
    expect(Math.abs(bleu.text(['this is a fest'], [['this is a test']], raw(0.01)).score / 100 - 0.223606797749979)).toBeLessThan(1e-8);
  });
});

describe('bleu.textSentence against sacreBLEU test_sentence_bleu.py', () => {
  const REF = 'producţia de zahăr brut se exprimă în zahăr alb;';
  const SYS = 'Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;';
  it.each([
    ['exp', undefined, false, '13a', 8.493],
    ['none', undefined, false, '13a', 0.0],
    ['floor', undefined, false, '13a', 4.51688],
    ['floor', 0.1, false, '13a', 4.51688],
    ['floor', 0.5, false, '13a', 10.1],
    ['add-k', undefined, false, '13a', 14.882],
    ['add-k', 1, false, '13a', 14.882],
    ['add-k', 2, false, '13a', 21.389],
    ['exp', undefined, false, 'none', 7.347],
    ['exp', undefined, false, 'intl', 8.493],
    ['exp', undefined, false, 'char', 40.8759],
    ['exp', undefined, true, 'char', 42.0267],
  ] as const)('%s %s lowercase=%s tok=%s', (smoothing, smoothValue, lowercase, tokenize, want) => {
    const got = bleu.textSentence(SYS, [REF], { smoothing, smoothValue, lowercase, tokenize }).score;
    expect(Math.abs(got - want)).toBeLessThan(1e-3);
  });

  it.each(['exp', 'none', 'floor', 'add-k'] as const)('no match at all gives 0 (%s)', (smoothing) => {
    expect(bleu.textSentence('this is a cat', ['okay thanks'], { smoothing }).score).toBe(0);
  });

  it('effective order (test_effective_order)', () => {
    const opts = { tokenize: 'none' as const, smoothing: 'floor' as const, smoothValue: 0.01, effectiveOrder: true };
    expect(bleu.text(['test'], [['a test']], { ...opts, effectiveOrder: false }).score).toBe(0);
    expect(Math.abs(bleu.text(['test'], [['a test']], opts).score / 100 - 0.3678794411714425)).toBeLessThan(1e-8);
    expect(Math.abs(bleu.text(['a test'], [['a test']], opts).score / 100 - 1)).toBeLessThan(1e-8);
    expect(Math.abs(bleu.text(['a little test'], [['a test']], opts).score / 100 - 0.03218297948685433)).toBeLessThan(1e-8);
  });
});

describe('text BLEU details', () => {
  it('13a splits punctuation and keeps decimal points; intl splits symbols', () => {
    const a = bleu.text(['Cost: $3.50, or 4-5 items.'], [['Cost : $ 3.50 , or 4 - 5 items .']], { tokenize: '13a' });
    expect(a.score).toBeCloseTo(100, 10);
    expect(a.hypLen).toBe(11);
  });

  it('drops empty references and reports a variable count in the signature', () => {
    const r = bleu.text(['a b c d', 'e f g h'], [['a b c d', ''], ['e f g h', 'e f g x']]);
    expect(r.score).toBeCloseTo(100, 10);
    expect(r.signature).toMatch(/^nrefs:var\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:llm-kernels-/);
    expectCode(() => bleu.text(['a'], [['', null]]), RangeError, 'ERR_LLMK_BAD_SHAPE', /no non-empty reference/);
    expectCode(() => bleu.text(['a'], [[3 as never]]), TypeError, 'ERR_LLMK_BAD_ARGUMENT');
    expectCode(() => bleu.text(['a'], [['a']], { tokenize: 'zh' as never }), RangeError, 'ERR_LLMK_BAD_OPTION', /tokenize/);
    expectCode(() => bleu.text(['a'], [['a']], { flavor: 'nltk' as never }), RangeError, 'ERR_LLMK_BAD_OPTION', /sacrebleu/);
  });

  it('signature() describes a configuration', () => {
    expect(bleu.signature({ flavor: 'sacrebleu', tokenize: '13a' })).toMatch(/^nrefs:1\|case:mixed\|eff:no\|tok:13a\|smooth:exp\|version:/);
    expect(bleu.signature({ flavor: 'sacrebleu', smoothing: 'floor', lowercase: true, nrefs: 4, effectiveOrder: true, tokenize: 'intl' }))
      .toMatch(/^nrefs:4\|case:lc\|eff:yes\|tok:intl\|smooth:floor\[0\.10\]\|version:/);
    expect(bleu.signature({ smoothing: 'method1' })).toMatch(/^nrefs:1\|case:mixed\|flavor:nltk\|tok:ids\|smooth:method1\|weights:0.25,0.25,0.25,0.25\|version:/);
    expectCode(() => bleu.signature({ nrefs: 0 }), RangeError, 'ERR_LLMK_BAD_OPTION', /nrefs/);
  });
});
