/**
 * GPT-2's bytes_to_unicode, the alphabet of byte-level BPE vocabularies in
 * Hugging Face files: printable bytes stand for themselves, the others for
 * U+0100 onwards, in byte order.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    chars.push(String.fromCodePoint(printable ? b : 256 + extra++));
  }
  return chars;
})();

/** The byte each vocabulary character stands for. */
export const CHAR_TO_BYTE: ReadonlyMap<string, number> = new Map(BYTE_TO_CHAR.map((c, b) => [c, b]));

export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/** The bytes of a byte-level string, or undefined when a character is not in the alphabet. */
export function byteLevelToBytes(token: string): Uint8Array | undefined {
  const out: number[] = [];
  for (const ch of token) {
    const b = CHAR_TO_BYTE.get(ch);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return Uint8Array.from(out);
}
