import { SluiceError } from './errors.ts';

/**
 * Rows-per-day export quotas, per agreement and UTC day. A request reserves its largest
 * possible answer before it runs and settles to the rows actually returned afterwards, so
 * concurrent requests can never overshoot the quota together.
 */
export class QuotaMeter {
  readonly #used = new Map<string, number>();

  static key(agreementId: string, at: Date): string {
    return `${agreementId}@${at.toISOString().slice(0, 10)}`;
  }

  used(key: string): number {
    return this.#used.get(key) ?? 0;
  }

  /** Adds rows already spent (e.g. rebuilt from the usage record at start-up). */
  add(key: string, rows: number): void {
    this.#used.set(key, this.used(key) + rows);
  }

  /**
   * Reserves up to `wanted` rows of a `limit`-row daily quota; returns how many were
   * reserved. Throws LIMIT_EXCEEDED when nothing is left.
   */
  reserve(key: string, limit: number, wanted: number): number {
    const left = limit - this.used(key);
    if (left <= 0) {
      throw new SluiceError('LIMIT_EXCEEDED', `the daily export quota of ${limit} rows is used up`);
    }
    const granted = Math.min(left, wanted);
    this.add(key, granted);
    return granted;
  }

  /** Returns the unused part of a reservation. */
  settle(key: string, reserved: number, spent: number): void {
    this.add(key, spent - reserved);
  }
}
