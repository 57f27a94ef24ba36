/**
 * Bridges an AbortSignal to the addon's CancelToken: the native job polls the
 * token between chunks, and the Promise rejects with the signal's reason (an
 * AbortError DOMException unless the caller gave another) as fetch() does.
 */
import { loaded, type NativeCancelToken } from './native.js';
import { typeError } from './errors.js';

export async function withAbort<T>(
  signal: AbortSignal | undefined,
  start: (cancel: NativeCancelToken | undefined) => Promise<T>,
): Promise<T> {
  if (signal === undefined) return start(undefined);
  if (!(signal instanceof AbortSignal)) throw typeError('ERR_LLMK_BAD_OPTION', 'signal must be an AbortSignal');
  signal.throwIfAborted();
  const token = new (loaded().native.CancelToken)();
  const onAbort = () => token.cancel();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    return await start(token);
  } catch (e) {
    if (signal.aborted && (e as { code?: string }).code === 'ABORT_ERR') throw signal.reason;
    throw e;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
