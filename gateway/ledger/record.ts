/**
 * One usage-record entry as stored: the canonical JSON (RFC 8785) of the caller's fields plus
 * three the ledger assigns. These bytes, without the newline that separates them in the file,
 * are what the Merkle leaf hashes.
 *
 *   seq   position in the log, from 0; equal to the Merkle leaf index
 *   at    ISO 8601 UTC time the ledger accepted the entry; never decreases along the log
 *   prev  hex leaf hash of the entry before (64 zeros for seq 0): a hash chain that lets a
 *         verifier say which entry was altered, deleted or moved, not only that one was
 */
import canonicalize from 'canonicalize';
import { SluiceError } from '../errors.ts';

export const GENESIS_PREV = '0'.repeat(64);

export const RESERVED_FIELDS: ReadonlySet<string> = new Set(['seq', 'at', 'prev']);

/** Entries larger than this are refused (PAYLOAD_TOO_LARGE): a record is metadata, not data. */
export const MAX_ENTRY_BYTES = 1 << 20;

/** What a caller appends: any JSON object without the reserved fields. */
export type LedgerEntry = Readonly<Record<string, unknown>>;

/** An entry as stored and returned. */
export interface LedgerRecord {
  readonly seq: number;
  readonly at: string;
  readonly prev: string;
  readonly [field: string]: unknown;
}

export interface EncodedRecord {
  readonly record: LedgerRecord;
  readonly bytes: Uint8Array;
}

const HEX64 = /^[0-9a-f]{64}$/;
const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Builds the stored form of an entry. Throws BAD_REQUEST when the entry is not a plain JSON
 * object, uses a reserved field or cannot be canonicalised (NaN, Infinity, BigInt, a cycle, a
 * lone surrogate), and PAYLOAD_TOO_LARGE beyond `maxBytes`.
 */
export function encodeRecord(
  entry: LedgerEntry,
  seq: number,
  at: string,
  prev: string,
  maxBytes: number = MAX_ENTRY_BYTES,
): EncodedRecord {
  if (!isPlainObject(entry)) {
    throw new SluiceError('BAD_REQUEST', 'a usage record entry must be a plain JSON object');
  }
  for (const key of Object.keys(entry)) {
    if (RESERVED_FIELDS.has(key)) {
      throw new SluiceError('BAD_REQUEST', `usage record field '${key}' is assigned by the ledger`);
    }
  }
  let text: string | undefined;
  try {
    text = canonicalize({ ...entry, seq, at, prev });
  } catch {
    text = undefined;
  }
  if (text === undefined) {
    throw new SluiceError(
      'BAD_REQUEST',
      'usage record entry is not representable as canonical JSON',
    );
  }
  const bytes = encoder.encode(text);
  if (bytes.length > maxBytes) {
    throw new SluiceError('PAYLOAD_TOO_LARGE', `usage record entry exceeds ${maxBytes} bytes`);
  }
  // Parse back so that what callers see is exactly what was hashed (dropped undefineds, toJSON).
  return { record: JSON.parse(text) as LedgerRecord, bytes };
}

export type DecodeResult =
  | { readonly ok: true; readonly record: LedgerRecord }
  | { readonly ok: false; readonly reason: string; readonly seq?: number };

/**
 * Parses one stored line (without its newline). Anything but the canonical form of an object
 * with a valid seq, at and prev is refused: two byte strings for one record would let an
 * operator change the hash without changing the meaning.
 */
export function decodeRecord(line: Uint8Array): DecodeResult {
  let text: string;
  try {
    text = decoder.decode(line);
  } catch {
    return { ok: false, reason: 'not UTF-8' };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: 'not JSON' };
  }
  if (!isPlainObject(value)) return { ok: false, reason: 'not a JSON object' };
  const seq =
    Number.isSafeInteger(value.seq) && (value.seq as number) >= 0
      ? (value.seq as number)
      : undefined;
  const fail = (reason: string): DecodeResult =>
    seq === undefined ? { ok: false, reason } : { ok: false, reason, seq };
  if (seq === undefined) return fail('seq is missing or not a non-negative integer');
  if (typeof value.at !== 'string' || Number.isNaN(Date.parse(value.at))) {
    return fail('at is missing or not a timestamp');
  }
  if (typeof value.prev !== 'string' || !HEX64.test(value.prev)) {
    return fail('prev is missing or not a 64-digit lowercase hex hash');
  }
  let canonical: string | undefined;
  try {
    canonical = canonicalize(value);
  } catch {
    canonical = undefined;
  }
  if (canonical !== text) return fail('not in canonical JSON form (RFC 8785)');
  return { ok: true, record: value as LedgerRecord };
}
