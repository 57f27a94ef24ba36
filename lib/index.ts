/**
 * llm-kernels: native hot loops of an LLM token pipeline.
 *
 * Conventions: a function returns its value directly and runs on one thread
 * unless given `threads`; its Promise form has the same name plus `Async`,
 * runs off the main thread and accepts an AbortSignal. Errors carry a stable
 * `code` (ERR_LLMK_*).
 */
export { info, setThreads, getThreads, type Info } from './runtime.js';
export { setBackend, type Backend, type LoadedBackend } from './native.js';
export { vectorAdd, vectorAddAsync, type VectorAddOptions, type VectorAddAsyncOptions } from './vector.js';
export { bleu, type CorpusBleu, type TextBleu } from './bleu/index.js';
export type { BleuStats, BleuOptions, BleuAsyncOptions, TextBleuOptions, SignatureOptions, Candidates, References, PackedSequences, PackedReferences, TokenSeq } from './bleu/index.js';
export { referenceStats as bleuReferenceStats } from './bleu/reference.js';
export { Tokenizer, encodingForModel, type TextInput, type TokenDecoder, type BatchOptions, type TiktokenFileOptions } from './tokenize/tokenizer.js';
export { bpeMergeReference, listedMergeReference } from './tokenize/reference.js';
export type { EncodingName } from './tokenize/encodings.js';
export type { TrainOptions, TrainSource } from './tokenize/train.js';
export { tokenPremium, udhrCorpus, type PremiumReport, type PremiumRow } from './tokenize/premium.js';
export type { SpecialOptions, SpecialSet } from './tokenize/specials.js';
export type { LlmkErrorCode } from './errors.js';
export { kv, KvEncoder, KvPrefixStore } from './kv/index.js';
export type { KvDecoded, KvDecodeOptions, KvAsyncOptions, KvInspection, KvEncoderOptions, KvPrefixStoreOptions, KvTensor, KvPutResult, KvCodecOptions, KvEncodeOptions, KvDType, KvKind, KvMode } from './kv/index.js';
export { readSafetensors, type SafetensorsTensor } from './safetensors.js';
