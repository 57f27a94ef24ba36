/** Checks shared by every pipeline's options, so each check lives once. */
import { rangeError, typeError } from './errors.js';

export function checkObject<T extends object>(value: unknown, name: string): T {
  if (value === undefined) return {} as T;
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw typeError('ERR_LLMK_BAD_ARGUMENT', `${name} must be an object`);
  return value as T;
}

export function checkInt(value: unknown, name: string, lo: number, hi: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < lo || value > hi)
    throw rangeError('ERR_LLMK_BAD_OPTION', `${name} must be an integer in [${lo}, ${hi}], got ${String(value)}`);
  return value;
}

export function checkNumber(value: unknown, name: string, lo = -Infinity, hi = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < lo || value > hi)
    throw rangeError('ERR_LLMK_BAD_OPTION', `${name} must be a finite number in [${lo}, ${hi}], got ${String(value)}`);
  return value;
}

export function checkThreads(value: unknown): number | undefined {
  return value === undefined ? undefined : checkInt(value, 'threads', 1, 1024);
}

export function checkChoice<T extends string>(value: unknown, name: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(choices as readonly string[]).includes(value))
    throw rangeError('ERR_LLMK_BAD_OPTION', `${name} must be one of ${choices.map((c) => `'${c}'`).join(', ')}, got ${JSON.stringify(value)}`);
  return value as T;
}

export function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw typeError('ERR_LLMK_BAD_OPTION', `${name} must be a boolean`);
  return value;
}
