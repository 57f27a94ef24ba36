import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Tokenizer, tokenPremium, udhrCorpus } from 'llm-kernels';
import { expectCode } from './helpers.js';

const cli = fileURLToPath(new URL('../dist/lib/cli.js', import.meta.url));

describe('tokenPremium', () => {
  it('counts tokens per language of a parallel corpus, relative to the reference', () => {
    const all = udhrCorpus();
    expect(Object.keys(all).length).toBe(532);
    const texts = { eng: all.eng!, deu: all.deu_1996!, jpn: all.jpn!, hin: all.hin! };
    const tok = Tokenizer.fromEncoding('o200k_base');
    const r = tokenPremium(tok, texts);
    expect(r.reference).toBe('eng');
    const eng = r.languages.find((l) => l.lang === 'eng')!;
    expect(eng.premium).toBe(1);
    for (const row of r.languages) {
      expect(row.tokens).toBe(tok.encodeOrdinary(texts[row.lang as keyof typeof texts]).length);
      expect(row.premium).toBeCloseTo(row.tokens / eng.tokens, 12);
      expect(row.bytes).toBe(Buffer.byteLength(texts[row.lang as keyof typeof texts]));
    }
    // o200k's larger multilingual vocabulary charges Hindi less than cl100k does.
    const hin = (t: string) => tokenPremium(Tokenizer.fromEncoding(t as 'o200k_base'), texts).languages.find((l) => l.lang === 'hin')!.premium;
    expect(hin('o200k_base')).toBeLessThan(hin('cl100k_base'));
    expect(tokenPremium(tok, texts, { reference: 'deu' }).languages.find((l) => l.lang === 'deu')!.premium).toBe(1);
    expect(tokenPremium(tok, { x: '<|endoftext|>' }).languages[0]!.tokens).toBeGreaterThan(1); // content, not a special
    expectCode(() => tokenPremium(tok, texts, { reference: 'fra' }), RangeError, 'ERR_LLMK_BAD_OPTION');
    expectCode(() => tokenPremium(tok, {}), RangeError, 'ERR_LLMK_BAD_ARGUMENT');
  });

  it('`llm-kernels premium --encoding o200k_base --json` reports every UDHR language', () => {
    const r = spawnSync(process.execPath, [cli, 'premium', '--encoding', 'o200k_base', '--json'], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout) as Record<string, { reference: string; languages: { lang: string; premium: number }[] }>;
    expect(report.o200k_base!.reference).toBe('eng');
    expect(report.o200k_base!.languages).toHaveLength(532);
  });
});
