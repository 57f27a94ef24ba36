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

// The byte each alphabet character stands for, by its code unit (all below U+0144); -1: none.
const UNIT_TO_BYTE = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (table[c.charCodeAt(0)] = b));
  return table;
})();

export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = '';
  for (const b of bytes) s += BYTE_TO_CHAR[b];
  return s;
}

/**
 * The bytes of a byte-level string, or undefined when a character is not in
 * the alphabet. By code unit, through a table: this runs for every entry of a
 * vocabulary (Llama-3: 128k) when a tokenizer.json loads.
 */
export function byteLevelToBytes(token: string): Buffer | undefined {
  const out = Buffer.allocUnsafe(token.length);
  for (let i = 0; i < token.length; i++) {
    const unit = token.charCodeAt(i);
    const b = unit < 0x144 ? UNIT_TO_BYTE[unit]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}
