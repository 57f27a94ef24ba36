export { kv, type KvDecoded, type KvDecodeOptions, type KvAsyncOptions, type KvInspection } from './codec.js';
export { KvEncoder, type KvEncoderOptions } from './encoder.js';
export { KvPrefixStore, type KvPrefixStoreOptions, type KvTensor, type KvPutResult } from './prefix-store.js';
export type { KvCodecOptions, KvEncodeOptions, KvDType, KvKind, KvMode } from './options.js';
