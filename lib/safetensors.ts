/**
 * A reader for safetensors files (Hugging Face's tensor format): an 8-byte
 * little-endian header length, a JSON header of { name: { dtype, shape,
 * data_offsets } } plus optional "__metadata__", then the raw little-endian
 * data. Every length and offset is checked against the file before use, so
 * a damaged file gives ERR_LLMK_BAD_SAFETENSORS, never a wrong tensor.
 *
 * @example
 *   const { tensors } = readSafetensors('kv.safetensors');
 *   const k = tensors.get('p0.layer0.key')!;   // { dtype: 'F32', shape: [2, 256, 32], data: Float32Array }
 */
import { readFileSync } from 'node:fs';
import { plainError } from './errors.js';

export type SafetensorsDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U64' | 'U32' | 'U16' | 'U8' | 'BOOL';

export interface SafetensorsTensor {
  dtype: SafetensorsDType;
  shape: number[];
  /** F16 and BF16 as Uint16Array of raw bits; BOOL as Uint8Array. */
  data: Float64Array | Float32Array | BigInt64Array | BigUint64Array | Int32Array | Uint32Array | Int16Array | Uint16Array | Int8Array | Uint8Array;
}

const VIEWS = {
  F64: Float64Array, F32: Float32Array, F16: Uint16Array, BF16: Uint16Array, I64: BigInt64Array, U64: BigUint64Array,
  I32: Int32Array, U32: Uint32Array, I16: Int16Array, U16: Uint16Array, I8: Int8Array, U8: Uint8Array, BOOL: Uint8Array,
} as const;

const MAX_HEADER = 100 * 1024 * 1024;

function bad(what: string): Error {
  return plainError('ERR_LLMK_BAD_SAFETENSORS', `bad safetensors file: ${what}`);
}

export function readSafetensors(source: string | Uint8Array): { tensors: Map<string, SafetensorsTensor>; metadata: Record<string, string> } {
  const file = typeof source === 'string' ? new Uint8Array(readFileSync(source)) : source;
  if (!(file instanceof Uint8Array)) throw bad('source must be a path or a Uint8Array');
  if (file.length < 8) throw bad('shorter than its 8-byte header length');
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerLen = view.getBigUint64(0, true);
  if (headerLen > BigInt(Math.min(MAX_HEADER, file.length - 8))) throw bad(`header length ${headerLen} exceeds the file`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(file.subarray(8, 8 + Number(headerLen))));
  } catch (e) {
    throw bad(`header is not UTF-8 JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw bad('header is not a JSON object');
  const dataStart = 8 + Number(headerLen);
  const dataLen = file.length - dataStart;
  const tensors = new Map<string, SafetensorsTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Object.values(entry).some((v) => typeof v !== 'string'))
        throw bad('__metadata__ must map strings to strings');
      metadata = entry as Record<string, string>;
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (e === null || typeof e !== 'object') throw bad(`entry ${name} is not an object`);
    if (typeof e.dtype !== 'string' || !(e.dtype in VIEWS)) throw bad(`${name}: unsupported dtype ${String(e.dtype)}`);
    const dtype = e.dtype as SafetensorsDType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw bad(`${name}: bad shape`);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0))
      throw bad(`${name}: bad data_offsets`);
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataLen) throw bad(`${name}: data_offsets [${begin}, ${end}] outside the ${dataLen} data bytes`);
    const View = VIEWS[dtype];
    const count = (e.shape as number[]).reduce((a, b) => a * b, 1);
    if (count * View.BYTES_PER_ELEMENT !== end - begin) throw bad(`${name}: ${end - begin} bytes for ${count} elements of ${dtype}`);
    // Copy: the data need not be aligned for a typed-array view, and the caller may keep the tensor after dropping the file.
    const bytes = file.slice(dataStart + begin, dataStart + end);
    tensors.set(name, { dtype, shape: e.shape as number[], data: new View(bytes.buffer, 0, count) });
  }
  return { tensors, metadata };
}
