/** `llm-kernels premium`: token premiums of UDHR languages for built-in encodings and tokenizer files. */
import { Tokenizer } from './tokenize/tokenizer.js';
import { ENCODING_NAMES, type EncodingName } from './tokenize/encodings.js';
import { tokenPremium, udhrCorpus, type PremiumReport } from './tokenize/premium.js';

export function premiumCommand(args: string[], json: boolean): number {
  const tokenizers: [string, Tokenizer][] = [];
  let reference: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const value = args[i + 1];
    if (args[i] === '--encoding' && value) tokenizers.push([value, Tokenizer.fromEncoding(value as EncodingName)]);
    else if (args[i] === '--tokenizer' && value) tokenizers.push([value, Tokenizer.fromHuggingFace(value)]);
    else if (args[i] === '--reference' && value) reference = value;
    else throw new Error(`premium: unexpected argument '${args[i]}'`);
    i++;
  }
  if (tokenizers.length === 0)
    for (const name of ENCODING_NAMES.filter((n) => n !== 'gpt2')) tokenizers.push([name, Tokenizer.fromEncoding(name)]);
  const corpus = udhrCorpus();
  const reports: [string, PremiumReport][] = tokenizers.map(([name, tok]) => [name, tokenPremium(tok, corpus, reference ? { reference } : {})]);
  if (json) {
    console.log(JSON.stringify(Object.fromEntries(reports), null, 2));
    return 0;
  }
  const [first] = reports;
  const order = [...first![1].languages].sort((a, b) => b.premium - a.premium).map((r) => r.lang);
  const byLang = reports.map(([, r]) => new Map(r.languages.map((row) => [row.lang, row])));
  console.log(`UDHR, ${order.length} languages; premium = tokens / tokens of '${first![1].reference}' (sorted by the first tokenizer)`);
  console.log(['lang', ...reports.flatMap(([name]) => [`${name} tokens`, 'premium'])].join('\t'));
  for (const lang of order)
    console.log([lang, ...byLang.flatMap((m) => [String(m.get(lang)!.tokens), m.get(lang)!.premium.toFixed(2)])].join('\t'));
  for (const [name, r] of reports) {
    const p = r.languages.map((row) => row.premium).sort((a, b) => a - b);
    console.log(`${name}: median premium ${p[p.length >> 1]!.toFixed(2)}, 90th percentile ${p[Math.floor(p.length * 0.9)]!.toFixed(2)}, max ${p.at(-1)!.toFixed(2)}`);
  }
  return 0;
}
