/**
 * BLEU scoring with sacreBLEU's semantics (sacrebleu.metrics.bleu, 2.x:
 * BLEU.compute_bleu), on its 0–100 scale, from integer statistics.
 */
export const SACREBLEU_SMOOTHING = ['exp', 'floor', 'add-k', 'none'] as const;
export type SacrebleuSmoothing = (typeof SACREBLEU_SMOOTHING)[number];

export const SACREBLEU_SMOOTH_DEFAULTS: Record<SacrebleuSmoothing, number | null> = {
  exp: null,
  floor: 0.1,
  'add-k': 1,
  none: null,
};

export interface SacrebleuResult {
  score: number;
  precisions: number[];
  bp: number;
}

const myLog = (x: number) => (x === 0 ? -9999999999 : Math.log(x));

export function sacrebleuScore(
  correctIn: readonly number[],
  totalIn: readonly number[],
  sysLen: number,
  refLen: number,
  method: SacrebleuSmoothing,
  smoothValue: number | null,
  effectiveOrder: boolean,
): SacrebleuResult {
  const order = correctIn.length;
  const value = smoothValue ?? SACREBLEU_SMOOTH_DEFAULTS[method] ?? 0;
  const bp = sysLen < refLen ? (sysLen > 0 ? Math.exp(1 - refLen / sysLen) : 0) : 1;
  const precisions = new Array<number>(order).fill(0);
  if (!correctIn.some((c) => c !== 0)) return { score: 0, precisions, bp };
  const correct = [...correctIn];
  const total = [...totalIn];
  let smoothMteval = 1;
  let effOrder = order;
  for (let n = 1; n <= order; n++) {
    if (method === 'add-k' && n > 1) {
      correct[n - 1] += value;
      total[n - 1] += value;
    }
    if (total[n - 1] === 0) break;
    if (effectiveOrder) effOrder = n;
    if (correct[n - 1] === 0) {
      if (method === 'exp') {
        smoothMteval *= 2;
        precisions[n - 1] = 100 / (smoothMteval * total[n - 1]);
      } else if (method === 'floor') {
        precisions[n - 1] = (100 * value) / total[n - 1];
      }
    } else {
      precisions[n - 1] = (100 * correct[n - 1]) / total[n - 1];
    }
  }
  // Python's sum() adds left to right, as reduce does here.
  let sum = 0;
  for (let i = 0; i < effOrder; i++) sum += myLog(precisions[i]);
  return { score: bp * Math.exp(sum / effOrder), precisions, bp };
}
