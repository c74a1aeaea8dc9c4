/** Small statistics helpers shared by the benchmarks. */

/** The median of a non-empty sample (mean of the two middle values when even). */
export function median(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('median of an empty sample');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile, `p` in [0, 100], of a non-empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new RangeError('percentile of an empty sample');
  const s = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * s.length);
  return s[Math.min(s.length - 1, Math.max(0, rank - 1))]!;
}

/** Geometric mean of positive values. */
export function geomean(values: readonly number[]): number {
  if (values.length === 0) throw new RangeError('geometric mean of an empty sample');
  let logSum = 0;
  for (const v of values) {
    if (!(v > 0)) throw new RangeError('geometric mean needs positive values');
    logSum += Math.log(v);
  }
  return Math.exp(logSum / values.length);
}

/**
 * Times `fn` `runs` times after `warmup` discarded runs; returns the kept durations in ms.
 * Runs are sequential, so the figures are latencies, not throughput.
 */
export async function timeRuns(
  runs: number,
  warmup: number,
  fn: () => Promise<unknown> | unknown,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await fn();
    out.push(performance.now() - t);
  }
  return out;
}

export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}
