/**
 * Special-token handling with tiktoken's semantics: `allowedSpecial` tokens in
 * the text become their ids; any `disallowedSpecial` token found in the text
 * (by default every special token not allowed) is an error; everything else
 * is ordinary text, encoded piece by piece between the special tokens.
 */
import { typeError } from '../errors.js';

export type SpecialSet = 'all' | Iterable<string>;

export interface SpecialOptions {
  /** Special tokens to encode as such: 'all' or an iterable of their texts (default none). */
  allowedSpecial?: SpecialSet;
  /** Special tokens whose presence throws: 'all' (default: all not allowed) or an iterable. */
  disallowedSpecial?: SpecialSet;
}

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export class SpecialTokens {
  readonly ids: ReadonlyMap<string, number>;
  private readonly cache = new Map<string, RegExp | null>();
  private everySpecial?: RegExp | null;

  constructor(pairs: [string, number][]) {
    this.ids = new Map(pairs);
  }

  private resolve(set: SpecialSet | undefined, fallback: Set<string>, name: string): Set<string> {
    if (set === undefined) return fallback;
    if (set === 'all') return new Set(this.ids.keys());
    if (typeof set === 'string' || typeof (set as Iterable<string>)[Symbol.iterator] !== 'function')
      throw typeError('ERR_LLMK_BAD_OPTION', `${name} must be 'all' or an iterable of special-token strings`);
    const out = new Set<string>();
    for (const s of set) {
      if (typeof s !== 'string') throw typeError('ERR_LLMK_BAD_OPTION', `${name} must contain strings`);
      out.add(s);
    }
    return out;
  }

  // One regex per set of tokens, longest first so that no token hides a longer one.
  private regex(tokens: Set<string>): RegExp | null {
    if (tokens.size === 0) return null;
    const key = [...tokens].sort().join('\u0000');
    let re = this.cache.get(key);
    if (re === undefined) {
      re = new RegExp([...tokens].sort((a, b) => b.length - a.length).map(escape).join('|'), 'g');
      this.cache.set(key, re);
    }
    return re;
  }

  private throwIfFound(bad: RegExp | null, text: string): void {
    if (!bad) return;
    bad.lastIndex = 0;
    const m = bad.exec(text);
    if (m)
      throw Object.assign(
        new Error(`the text contains the disallowed special token '${m[0]}' (pass allowedSpecial to encode it as a special token, or disallowedSpecial: [] to encode it as ordinary text)`),
        { code: 'ERR_LLMK_DISALLOWED_SPECIAL', token: m[0] },
      );
  }

  /**
   * Splits `text` into ordinary segments and allowed special ids, after
   * checking for disallowed ones. `onText` and `onSpecial` are called in order.
   */
  split(text: string, options: SpecialOptions, onText: (segment: string) => void, onSpecial: (id: number) => void): void {
    // The common case, no options: every special token is disallowed, nothing to split.
    if (options.allowedSpecial === undefined && options.disallowedSpecial === undefined) {
      if (this.everySpecial === undefined) this.everySpecial = this.regex(new Set(this.ids.keys()));
      this.throwIfFound(this.everySpecial, text);
      return onText(text);
    }
    const allowed = this.resolve(options.allowedSpecial, new Set(), 'allowedSpecial');
    for (const t of allowed) if (!this.ids.has(t)) throw typeError('ERR_LLMK_BAD_OPTION', `allowedSpecial: '${t}' is not a special token of this tokenizer`);
    const defaultDisallowed = new Set([...this.ids.keys()].filter((t) => !allowed.has(t)));
    const disallowed = this.resolve(options.disallowedSpecial, defaultDisallowed, 'disallowedSpecial');
    this.throwIfFound(this.regex(disallowed), text);
    const re = this.regex(allowed);
    if (!re) return onText(text);
    re.lastIndex = 0;
    let at = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index > at) onText(text.slice(at, m.index));
      onSpecial(this.ids.get(m[0])!);
      at = m.index + m[0].length;
    }
    if (at < text.length) onText(text.slice(at));
  }
}
