/**
 * Where the ledger keeps its bytes. The ledger owns everything that makes the record
 * trustworthy (canonical form, seq, the hash chain, the Merkle tree, checkpoints); a store only
 * persists and finds. The embedded demo uses `FileLedgerStore`; a PostgreSQL store (one table
 * of (seq, bytes, indexed columns), one of checkpoints) can replace it behind this interface.
 */
import type { Checkpoint } from './checkpoint.ts';
import type { LedgerRecord } from './record.ts';

export interface StoredRecord {
  readonly seq: number;
  /** Canonical JSON, exactly the bytes the leaf hash covers. */
  readonly bytes: Uint8Array;
  readonly record: LedgerRecord;
}

/** Every field is optional; given fields must all match. Times compare as instants. */
export interface LedgerFilter {
  /** The token subject (`record.user`). */
  readonly user?: string | undefined;
  readonly org?: string | undefined;
  /** Matches `record.dataset` or any element of `record.datasets`. */
  readonly dataset?: string | undefined;
  readonly agreement?: string | undefined;
  readonly decision?: string | undefined;
  readonly errorCode?: string | undefined;
  /** Inclusive lower bound on `at` (ISO 8601). */
  readonly from?: string | undefined;
  /** Exclusive upper bound on `at` (ISO 8601). */
  readonly to?: string | undefined;
}

export const INDEXED_FIELDS = [
  'user',
  'org',
  'dataset',
  'agreement',
  'decision',
  'errorCode',
] as const;
export type IndexedField = (typeof INDEXED_FIELDS)[number];

/** The string values of an indexed field in a record; `dataset` also reads `datasets`. */
export function indexedValues(record: LedgerRecord, field: IndexedField): string[] {
  const out: string[] = [];
  const v = record[field];
  if (typeof v === 'string') out.push(v);
  if (field === 'dataset' && Array.isArray(record.datasets)) {
    for (const d of record.datasets) if (typeof d === 'string' && !out.includes(d)) out.push(d);
  }
  return out;
}

export interface SeqPage {
  /** Matching seqs, newest first. */
  readonly seqs: readonly number[];
  /** Cursor for the next (older) page: pass it back as `before`. */
  readonly next: number | null;
}

export interface LoadReport {
  /** Bytes of an unacknowledged, partial last write that loading cut away. */
  readonly tornTailBytes: number;
}

export interface LedgerStore {
  /**
   * Streams every stored entry in seq order to `visit`, once, at open; `visit` returns the
   * parsed record to index, or undefined when the entry is unsound (the ledger then refuses
   * to open). Repairs only a torn last write, and reports it.
   */
  load(visit: (bytes: Uint8Array) => LedgerRecord | undefined): Promise<LoadReport>;
  /**
   * Persists a batch durably (one write and one sync for the file store, one transaction for
   * a database) and resolves only then. On rejection nothing may be assumed about the batch
   * and the store accepts no further appends.
   */
  append(batch: readonly StoredRecord[]): Promise<void>;
  /** The stored bytes of an appended entry, or undefined beyond the end. */
  read(seq: number): Promise<Uint8Array | undefined>;
  /** Seqs below `before` (exclusive; default: all) matching `filter`, newest first. */
  query(filter: LedgerFilter, before: number | undefined, limit: number): Promise<SeqPage>;
  /** Streams the first `count` entries' bytes in seq order (for re-verification). */
  scan(visit: (bytes: Uint8Array) => void, count: number): Promise<void>;
  saveCheckpoint(checkpoint: Checkpoint): Promise<void>;
  latestCheckpoint(): Promise<Checkpoint | undefined>;
  close(): Promise<void>;
}
