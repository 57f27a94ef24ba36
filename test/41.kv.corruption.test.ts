/**
 * Damaged streams: every truncation and every single-byte change of a stream
 * must throw ERR_LLMK_KV_CORRUPT (the checksums catch them). Then a fuzzer
 * that forges the checksums after damaging a tile, so the tile parsers
 * themselves see hostile bytes: they must throw the same error or return a
 * tensor of the right size, never crash or hang (npm run test:sanitize runs
 * this under ASan/UBSan).
 */
import { describe, expect, it } from 'vitest';
import { kv } from 'llm-kernels';
import { toHalfBits } from '../lib/kv/reference.js';
import { syntheticKeys, syntheticValues } from '../bench/kv-data.js';
import { freshSeed, rng } from './helpers.js';

const CRC_TABLE = Uint32Array.from({ length: 256 }, (_, i) => {
  let c = i;
  for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1));
  return c >>> 0;
});

function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** Recomputes every checksum of a (possibly damaged) stream whose header and table are intact. */
function forgeChecksums(s: Uint8Array): void {
  const v = new DataView(s.buffer, s.byteOffset, s.byteLength);
  const tiles = v.getUint32(40, true);
  let at = 48 + 8 * tiles;
  for (let i = 0; i < tiles; i++) {
    const size = v.getUint32(48 + 8 * i, true);
    v.setUint32(52 + 8 * i, crc32c(s.subarray(at, at + size)), true);
    at += size;
  }
  const head = new Uint8Array(44 + 8 * tiles);
  head.set(s.subarray(0, 44));
  head.set(s.subarray(48, 48 + 8 * tiles), 44);
  v.setUint32(44, crc32c(head), true);
}

function expectCorrupt(bytes: Uint8Array, what: string): void {
  try {
    kv.decode(bytes);
  } catch (e) {
    expect((e as { code?: string }).code, `${what}: ${(e as Error).message}`).toBe('ERR_LLMK_KV_CORRUPT');
    return;
  }
  expect.fail(`${what}: decoded without an error`);
}

const streams = (): [string, Uint8Array][] => {
  const keys = syntheticKeys(1, 2, 40, 8);
  const values = syntheticValues(1, 2, 40, 8);
  const half = new Uint16Array(keys.length).map((_, i) => (i * 2654435761) >>> 16);
  return [
    ['lossless f32', kv.encode(keys, { shape: [2, 40, 8], tileTokens: 16 })],
    ['lossless bf16', kv.encode(half, { shape: [2, 40, 8], dtype: 'bf16', tileTokens: 16 })],
    ['lossy bits', kv.encode(values, { shape: [2, 40, 8], mode: 'lossy', bits: 3, tileTokens: 16 })],
    ['lossy maxError', kv.encode(keys, { shape: [2, 40, 8], mode: 'lossy', maxError: 0.01, kind: 'key', tileTokens: 16 })],
    ['lossy bits, packed', kv.encode(values, { shape: [2, 40, 8], mode: 'lossy', bits: 3, entropy: false, tileTokens: 16 })],
    ['lossy maxError, packed', kv.encode(keys, { shape: [2, 40, 8], mode: 'lossy', maxError: 0.01, entropy: false, tileTokens: 16 })],
  ];
};

// Tiles of 256 tokens x 64 dims: streams of 16384 symbols and more use the
// 32-lane rANS layout, whose decoder has a SIMD path of its own.
const laneStreams = (): [string, Uint8Array][] => {
  const keys = syntheticKeys(1, 1, 256, 64);
  return [
    ['lossless bf16, 32-lane rANS', kv.encode(toHalfBits(keys, 'bf16'), { shape: [1, 256, 64], dtype: 'bf16' })],
    ['lossy bits 4 f32, 32-lane rANS', kv.encode(keys, { shape: [1, 256, 64], mode: 'lossy', bits: 4, kind: 'key' })],
  ];
};

describe('kv: damaged streams', () => {
  it('our checksum helper agrees with the codec (a forged undamaged stream decodes the same)', () => {
    for (const [, s] of streams()) {
      const copy = s.slice();
      forgeChecksums(copy);
      expect(Buffer.from(copy).equals(Buffer.from(s))).toBe(true);
    }
  });

  it('rejects every truncation and every changed byte', () => {
    for (const [name, s] of streams()) {
      for (let n = 0; n < s.length; n++) expectCorrupt(s.subarray(0, n), `${name} cut to ${n} bytes`);
      const longer = new Uint8Array(s.length + 1);
      longer.set(s);
      expectCorrupt(longer, `${name} with a trailing byte`);
      for (let i = 0; i < s.length; i++) {
        const bad = s.slice();
        bad[i] ^= 1 << (i % 8);
        expectCorrupt(bad, `${name} with byte ${i} changed`);
      }
    }
  });

  it('survives damaged tiles with forged checksums: an error or a tensor of the right size, nothing else', () => {
    const seed = freshSeed('kv fuzz');
    const r = rng(seed);
    let errors = 0;
    let decoded = 0;
    for (const [name, s] of [...streams(), ...laneStreams()]) {
      const elements = kv.decode(s).data.length;
      const tiles = new DataView(s.buffer, s.byteOffset).getUint32(40, true);
      const body = 48 + 8 * tiles;
      for (let round = 0; round < 400; round++) {
        const bad = s.slice();
        const flips = 1 + (r() % 4);
        for (let k = 0; k < flips; k++) bad[body + (r() % (s.length - body))] = r() & 0xff;
        forgeChecksums(bad);
        try {
          const out = kv.decode(bad);
          expect(out.data.length, name).toBe(elements);
          decoded++;
        } catch (e) {
          expect((e as { code?: string }).code, `${name}: ${(e as Error).message}`).toBe('ERR_LLMK_KV_CORRUPT');
          errors++;
        }
      }
    }
    expect(errors).toBeGreaterThan(0);
    console.log(`kv fuzz: ${errors} rejected, ${decoded} decoded (damage the checksums were forged to hide)`);
  });

  it('rejects headers that lie about the shape, even with a valid checksum', () => {
    const s = streams()[0]![1];
    // ... [10, 1]: packed codes in a lossless stream; [10, 2]: an unknown flag.
    const cases: [number, number][] = [[20, 41], [24, 9], [28, 8], [12, 2], [16, 0], [28, 0], [5, 7], [6, 3], [9, 5], [4, 2], [10, 1], [10, 2], [11, 1]];
    for (const [offset, value] of cases) {
      const bad = s.slice();
      const v = new DataView(bad.buffer);
      if (offset >= 12) v.setUint32(offset, value, true);
      else bad[offset] = value;
      forgeChecksums(bad);
      expectCorrupt(bad, `header field at ${offset} set to ${value}`);
    }
  });
});
