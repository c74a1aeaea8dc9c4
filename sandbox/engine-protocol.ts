/**
 * Messages between the pool (parent) and an engine worker (child process, IPC with
 * `serialization: 'advanced'`). Only plain data crosses: strings, numbers, arrays, Uint8Array.
 */

import type { ErrorCode } from '../gateway/errors.ts';
import type { QueryPlan } from '../policies/policy-types.ts';
import type { HardeningConfig } from './engine-hardening.ts';

export type ResultFormat = 'json' | 'arrow';
export type ExportFormat = 'csv' | 'parquet' | 'json' | 'arrow';

export interface WorkerConfig extends HardeningConfig {
  /** Enables the `test` message (raw SQL, abort, block). Never set outside tests. */
  readonly testHooks: boolean;
}

export interface QueryRequestMessage {
  readonly type: 'query';
  readonly id: number;
  readonly plan: Pick<QueryPlan, 'sql' | 'shaped' | 'rowBound'>;
  readonly maxRows: number;
  readonly format: ResultFormat;
  /** Time budget left for this request when it was sent. */
  readonly timeoutMs: number;
}

export interface ExportRequestMessage {
  readonly type: 'export';
  readonly id: number;
  readonly dataset: string;
  readonly format: ExportFormat;
  readonly timeoutMs: number;
}

export type TestOp =
  | { readonly op: 'raw'; readonly sql: string }
  | { readonly op: 'abort' }
  | { readonly op: 'block'; readonly ms: number };

export interface TestRequestMessage {
  readonly type: 'test';
  readonly id: number;
  readonly test: TestOp;
}

export type ParentMessage =
  | { readonly type: 'init'; readonly config: WorkerConfig }
  | QueryRequestMessage
  | ExportRequestMessage
  | TestRequestMessage
  | { readonly type: 'shutdown' };

export interface ColumnInfo {
  readonly name: string;
  /** DuckDB type name, e.g. `DECIMAL(15,2)`, `DATE`, `INTEGER[]`. */
  readonly type: string;
}

export interface WorkerQueryResult {
  readonly columns: readonly ColumnInfo[];
  /** JSON text of the row arrays (format json); empty for arrow. */
  readonly rowsJson: string;
  /** Arrow IPC stream (format arrow). */
  readonly arrow?: Uint8Array;
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly bytes: number;
  readonly secondCheckMs: number;
  readonly executeMs: number;
  readonly rowsRead: number;
  /** `whole`: computed in one piece (the plan bounds it); `streamed`: chunk by chunk. */
  readonly resultRead: ResultRead;
}

export type ResultRead = 'whole' | 'streamed';

export interface WorkerExportResult {
  readonly path: string;
  readonly rows: number;
  readonly bytes: number;
  readonly durationMs: number;
}

export interface WireError {
  readonly code: ErrorCode;
  readonly message: string;
}

export type WorkerMessage =
  | {
      readonly type: 'ready';
      readonly settings: Readonly<Record<string, string>>;
      readonly databases: readonly {
        readonly name: string;
        readonly path: string | null;
        readonly readonly: boolean;
      }[];
    }
  | { readonly type: 'init-failed'; readonly error: WireError }
  | { readonly type: 'reply'; readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly type: 'reply'; readonly id: number; readonly ok: false; readonly error: WireError };
