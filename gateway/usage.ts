import { createHash } from 'node:crypto';
import type { ErrorCode } from './errors.ts';

/**
 * One entry of the usage record: what was asked, by whom, what the policy decided and what
 * went out. It holds no data values: the answer is represented by its digest.
 */
export type UsageEntry = {
  action: string;
  decision: 'allow' | 'deny';
  errorCode: ErrorCode | null;
  user: string | null;
  org: string | null;
  role: string | null;
  requestId: string;
  traceId: string;
  spanId: string | null;
  client: string | null;
  agreement: string | null;
  agreementVersion: number | null;
  policyVersion: number | null;
  datasets: string[];
  columns: { dataset: string; column: string; usage: string }[];
  masks: { dataset: string; column: string; mask: string }[];
  rowFilters: { dataset: string; filter: string }[];
  /** The text as submitted (SQL or script source). */
  query: string | null;
  /** SHA-256 of the SQL that actually ran. */
  sqlHash: string | null;
  rows: number;
  bytes: number;
  truncated: boolean;
  quota: { agreement: string; day: string; used: number; limit: number } | null;
  answerDigest: string | null;
  durationMs: number;
  detail: Record<string, unknown> | null;
};

/** Appends entries durably; resolves only once the entry is on disk. */
export interface Recorder {
  append(entry: UsageEntry): Promise<{ seq: number }>;
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** A fresh entry for a request; the principal is filled in once authentication succeeds. */
export function newEntry(
  action: string,
  req: { requestId: string; traceId: string; spanId: string; client: string | null },
): UsageEntry {
  return {
    action,
    decision: 'allow',
    errorCode: null,
    user: null,
    org: null,
    role: null,
    requestId: req.requestId,
    traceId: req.traceId,
    spanId: req.spanId,
    client: req.client,
    agreement: null,
    agreementVersion: null,
    policyVersion: null,
    datasets: [],
    columns: [],
    masks: [],
    rowFilters: [],
    query: null,
    sqlHash: null,
    rows: 0,
    bytes: 0,
    truncated: false,
    quota: null,
    answerDigest: null,
    durationMs: 0,
    detail: null,
  };
}
