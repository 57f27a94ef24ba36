/**
 * Errors thrown by the TypeScript layer carry the same stable `code`
 * property as those thrown by the native addon (ERR_LLMK_*), so callers can
 * branch on `err.code` whichever side noticed the problem.
 */
export type LlmkErrorCode =
  | 'ERR_LLMK_BAD_ARGUMENT'
  | 'ERR_LLMK_BAD_OPTION'
  | 'ERR_LLMK_BAD_SHAPE'
  | 'ERR_LLMK_BAD_THREADS'
  | 'ERR_LLMK_NO_CUDA'
  | 'ERR_LLMK_NO_CUDA_DEVICE'
  | 'ERR_LLMK_NATIVE_LOAD'
  | 'ERR_LLMK_BLEU_SMOOTHING'
  | 'ERR_LLMK_BAD_TOKEN'
  | 'ERR_LLMK_BAD_ENCODING'
  | 'ERR_LLMK_UNSUPPORTED'
  | 'ERR_LLMK_UNKNOWN_ENCODING'
  | 'ERR_LLMK_UNKNOWN_MODEL'
  | 'ERR_LLMK_DISALLOWED_SPECIAL'
  | 'ERR_LLMK_UNENCODABLE'
  | 'ERR_LLMK_KV_CORRUPT'
  | 'ERR_LLMK_BAD_SAFETENSORS';

export type CodedError<E extends Error = Error> = E & { code: LlmkErrorCode };

export function typeError(code: LlmkErrorCode, message: string): CodedError<TypeError> {
  return Object.assign(new TypeError(message), { code });
}

export function rangeError(code: LlmkErrorCode, message: string): CodedError<RangeError> {
  return Object.assign(new RangeError(message), { code });
}

export function plainError(code: LlmkErrorCode, message: string): CodedError {
  return Object.assign(new Error(message), { code });
}
