/**
 * EnginePool: warm, hardened DuckDB workers in child processes, a bounded FIFO queue in front
 * of them, per-request time budgets, and crash recovery.
 *
 * - Every worker is started at `create`, verifies its own hardening and reports the settings it
 *   read back; the pool verifies that report again before using the worker.
 * - A request waits in the queue while all workers are busy; beyond `queueLimit` it is refused
 *   with LIMIT_EXCEEDED. Its time budget (default `timeoutMs`) counts from submission, queue
 *   wait included.
 * - The worker interrupts its own query when the budget runs out (TIMEOUT, the worker stays).
 *   If it does not answer within `graceMs` after that, the pool kills and replaces it (TIMEOUT).
 * - A worker that exits mid-request answers that request with ENGINE_UNAVAILABLE and is
 *   replaced; the next request is served by the replacement.
 *
 * The pool process never loads DuckDB.
 */

import { type ChildProcess, fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, realpath, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ErrorCode, SluiceError } from '../gateway/errors.ts';
import type { QueryPlan } from '../policies/policy-types.ts';
import { type HardeningConfig, validateConfig, verifyHardening } from './engine-hardening.ts';
import type {
  ColumnInfo,
  ExportFormat,
  ParentMessage,
  ResultFormat,
  ResultRead,
  TestOp,
  WorkerConfig,
  WorkerExportResult,
  WorkerMessage,
  WorkerQueryResult,
} from './engine-protocol.ts';

export type { ColumnInfo, ExportFormat, ResultFormat, ResultRead } from './engine-protocol.ts';

export interface EnginePoolOptions {
  /** The dataset file (`<dataDir>/datasets.duckdb`), attached read-only. */
  readonly dbPath: string;
  /** Worker processes, each with its own engine (default 2). */
  readonly workers?: number;
  /** DuckDB threads per worker (default 1). */
  readonly threads?: number;
  /**
   * When set, one more worker with this many DuckDB threads, the solo worker: it takes a job
   * only while no other job runs. A lone query (one analyst, one big scan) then gets every core,
   * while concurrent queries run on the others, whose threads together fit the cores.
   */
  readonly soloThreads?: number;
  /** DuckDB memory_limit per worker (default '512MB'). */
  readonly memoryLimit?: string;
  /** DuckDB max_temp_directory_size per worker (default '1GB'). */
  readonly maxTempDirectorySize?: string;
  /** Parent of the workers' spill directories. */
  readonly tempDir: string;
  /** Where exports are written; the only directory besides spill space the engine may write. */
  readonly exportDir: string;
  /** Default time budget of a query. */
  readonly timeoutMs: number;
  /** Time budget of a whole-dataset export (default 300,000). */
  readonly exportTimeoutMs?: number;
  /** Catalog name of the attached dataset file (default 'sluice_data'). */
  readonly dataCatalog?: string;
  /** Requests allowed to wait for a worker (default 64). */
  readonly queueLimit?: number;
  /** How long past its budget a worker may stay silent before it is killed (default 2,000). */
  readonly graceMs?: number;
  /** Time allowed for a worker to start and verify itself (default 30,000). */
  readonly startTimeoutMs?: number;
  /** Enables `unsafeTestHook`; tests only. */
  readonly testHooks?: boolean;
}

export interface QueryRequest {
  readonly plan: Pick<QueryPlan, 'sql' | 'shaped' | 'rowBound'>;
  /** Rows to return at most; one more is read to set `truncated`. */
  readonly maxRows: number;
  /** Overrides the pool's default budget. */
  readonly timeoutMs?: number;
  readonly format: ResultFormat;
  /** W3C trace context of the caller; echoed in `timings` when well-formed. */
  readonly traceparent?: string;
}

/** Per-stage figures for the caller's spans. */
export interface QueryTimings {
  readonly queueMs: number;
  readonly secondCheckMs: number;
  readonly executeMs: number;
  readonly rowsRead: number;
  readonly resultRead: ResultRead;
  readonly traceparent?: string;
}

export interface QueryResult {
  readonly columns: readonly ColumnInfo[];
  /** JSON-safe rows (format json); empty for arrow. Parsed from `rowsJson` on first use. */
  readonly rows: unknown[][];
  /** The same rows as the worker encoded them: a JSON array text, to send on unparsed. */
  readonly rowsJson: string;
  /** Arrow IPC stream of the same columns (format arrow). */
  readonly arrow?: Uint8Array;
  readonly rowCount: number;
  readonly truncated: boolean;
  /** Size of the encoded rows: JSON text bytes or Arrow IPC bytes. */
  readonly bytes: number;
  /** Submission to answer, queue wait included. */
  readonly durationMs: number;
  readonly timings: QueryTimings;
}

export interface ExportResult {
  /** A file in `exportDir`; stream it, then call `cleanup`. */
  readonly path: string;
  readonly rows: number;
  readonly bytes: number;
  readonly durationMs: number;
  cleanup(): Promise<void>;
}

export type WorkerState = 'starting' | 'idle' | 'busy' | 'failed' | 'stopped';

export interface PoolStats {
  readonly workers: readonly {
    readonly pid: number | null;
    readonly state: WorkerState;
    readonly threads: number;
    readonly solo: boolean;
    /** Jobs this worker has answered. */
    readonly served: number;
  }[];
  readonly queued: number;
  /** Workers replaced after a crash, kill or failed start. */
  readonly restarts: number;
}

const WORKER_PATH = fileURLToPath(new URL('./engine-worker.ts', import.meta.url));
const DATASET_ID = /^[a-z][a-z0-9_]*$/;
const TRACEPARENT = /^[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
const MAX_START_FAILURES = 3;
const EXPORT_FORMATS: readonly ExportFormat[] = ['csv', 'parquet', 'json', 'arrow'];

type JobBody =
  | { readonly type: 'query'; readonly request: QueryRequest }
  | { readonly type: 'export'; readonly dataset: string; readonly format: ExportFormat }
  | { readonly type: 'test'; readonly test: TestOp };

interface Job {
  readonly body: JobBody;
  readonly submittedAt: number;
  readonly deadline: number;
  dispatchedAt: number;
  id: number;
  settled: boolean;
  queueTimer: NodeJS.Timeout | null;
  backstop: NodeJS.Timeout | null;
  resolve(value: unknown): void;
  reject(err: SluiceError): void;
}

interface PendingStart {
  resolve(): void;
  reject(err: SluiceError): void;
  readonly timer: NodeJS.Timeout;
}

interface Slot {
  readonly index: number;
  readonly threads: number;
  readonly solo: boolean;
  served: number;
  child: ChildProcess | null;
  state: WorkerState;
  job: Job | null;
  tempDir: string;
  startFailures: number;
  pendingStart: PendingStart | null;
}

function unavailable(message: string): SluiceError {
  return new SluiceError('ENGINE_UNAVAILABLE', message);
}

export class EnginePool {
  private readonly slots: Slot[];
  private readonly queue: Job[] = [];
  private readonly config: Omit<WorkerConfig, 'tempDir'>;
  private readonly tempRoot: string;
  private readonly defaultTimeoutMs: number;
  private readonly exportTimeoutMs: number;
  private readonly queueLimit: number;
  private readonly graceMs: number;
  private readonly startTimeoutMs: number;
  private nextId = 0;
  private restarts = 0;
  private serving = false;
  private closed = false;
  private lastSettings: Readonly<Record<string, string>> = {};

  private constructor(opts: EnginePoolOptions) {
    const workers = opts.workers ?? 2;
    if (!Number.isInteger(workers) || workers < 1) throw new Error('workers must be >= 1');
    if (!(opts.timeoutMs > 0)) throw new Error('timeoutMs must be > 0');
    this.tempRoot = path.resolve(opts.tempDir);
    this.config = {
      dbPath: path.resolve(opts.dbPath),
      dataCatalog: opts.dataCatalog ?? 'sluice_data',
      exportDir: path.resolve(opts.exportDir),
      threads: opts.threads ?? 1,
      memoryLimit: opts.memoryLimit ?? '512MB',
      maxTempDirectorySize: opts.maxTempDirectorySize ?? '1GB',
      testHooks: opts.testHooks === true,
    };
    validateConfig({ ...this.config, tempDir: this.tempRoot });
    this.defaultTimeoutMs = opts.timeoutMs;
    this.exportTimeoutMs = opts.exportTimeoutMs ?? 300_000;
    this.queueLimit = opts.queueLimit ?? 64;
    this.graceMs = opts.graceMs ?? 2_000;
    this.startTimeoutMs = opts.startTimeoutMs ?? 30_000;
    const solo = opts.soloThreads;
    if (solo !== undefined && (!Number.isInteger(solo) || solo < 1)) {
      throw new Error('soloThreads must be >= 1');
    }
    this.slots = Array.from({ length: workers + (solo === undefined ? 0 : 1) }, (_, index) => ({
      index,
      threads: index < workers ? this.config.threads : solo!,
      solo: index >= workers,
      served: 0,
      child: null,
      state: 'stopped' as WorkerState,
      job: null,
      tempDir: '',
      startFailures: 0,
      pendingStart: null,
    }));
  }

  /**
   * Starts every worker and waits until each has verified its hardening.
   * @throws SluiceError ENGINE_UNAVAILABLE when a worker fails to start or verify;
   *   Error for invalid options.
   */
  static async create(opts: EnginePoolOptions): Promise<EnginePool> {
    // DuckDB reports the attached file by its real path; the read-back compares against it.
    const dbPath = await realpath(opts.dbPath).catch(() => {
      throw unavailable('the dataset file is missing');
    });
    const pool = new EnginePool({ ...opts, dbPath });
    await mkdir(pool.tempRoot, { recursive: true, mode: 0o700 });
    await mkdir(pool.config.exportDir, { recursive: true, mode: 0o700 });
    try {
      await Promise.all(pool.slots.map((slot) => pool.startWorker(slot)));
    } catch (err) {
      await pool.close();
      throw err;
    }
    pool.serving = true;
    return pool;
  }

  /**
   * Runs a planned query on a worker: second check, then execution with the row cap.
   * @throws SluiceError POLICY_DENIED (second check), QUERY_ERROR, TIMEOUT, LIMIT_EXCEEDED
   *   (queue full or memory limit), ENGINE_UNAVAILABLE (worker crashed or pool closed),
   *   BAD_REQUEST (malformed request).
   */
  async query(request: QueryRequest): Promise<QueryResult> {
    const budget = request.timeoutMs ?? this.defaultTimeoutMs;
    if (typeof request.plan?.sql !== 'string' || !Array.isArray(request.plan.shaped)) {
      throw new SluiceError('BAD_REQUEST', 'a query plan is required');
    }
    const bound = request.plan.rowBound;
    if (bound !== undefined && !(Number.isSafeInteger(bound) && bound >= 0)) {
      throw new SluiceError('BAD_REQUEST', 'rowBound must be a non-negative integer');
    }
    if (!Number.isInteger(request.maxRows) || request.maxRows < 0) {
      throw new SluiceError('BAD_REQUEST', 'maxRows must be a non-negative integer');
    }
    if (request.format !== 'json' && request.format !== 'arrow') {
      throw new SluiceError('BAD_REQUEST', 'format must be json or arrow');
    }
    if (!(budget > 0)) throw new SluiceError('BAD_REQUEST', 'timeoutMs must be positive');
    const submittedAt = performance.now();
    const job = this.submit({ type: 'query', request }, budget);
    const value = (await job.promise) as WorkerQueryResult;
    const traceparent =
      request.traceparent !== undefined && TRACEPARENT.test(request.traceparent)
        ? request.traceparent
        : undefined;
    const rowsJson = request.format === 'json' ? value.rowsJson : '[]';
    let rows: unknown[][] | undefined;
    return {
      columns: value.columns,
      get rows() {
        rows ??= JSON.parse(rowsJson) as unknown[][];
        return rows;
      },
      rowsJson,
      ...(value.arrow ? { arrow: value.arrow } : {}),
      rowCount: value.rowCount,
      truncated: value.truncated,
      bytes: value.bytes,
      durationMs: performance.now() - submittedAt,
      timings: {
        queueMs: job.job.dispatchedAt - submittedAt,
        secondCheckMs: value.secondCheckMs,
        executeMs: value.executeMs,
        rowsRead: value.rowsRead,
        resultRead: value.resultRead,
        ...(traceparent ? { traceparent } : {}),
      },
    };
  }

  /**
   * Writes a whole stored dataset to a new file in `exportDir` (csv with header, parquet with
   * zstd, json as newline-delimited objects, arrow as an IPC stream). For unconditional data only: the caller
   * decides that; this reads the stored table as is.
   * @throws SluiceError BAD_REQUEST (dataset id or format), NOT_FOUND, TIMEOUT,
   *   ENGINE_UNAVAILABLE, LIMIT_EXCEEDED.
   */
  async exportTable(dataset: string, format: ExportFormat): Promise<ExportResult> {
    if (!DATASET_ID.test(dataset)) throw new SluiceError('BAD_REQUEST', 'invalid dataset id');
    if (!EXPORT_FORMATS.includes(format)) {
      throw new SluiceError('BAD_REQUEST', 'format must be csv, parquet, json or arrow');
    }
    const value = (await this.submit({ type: 'export', dataset, format }, this.exportTimeoutMs)
      .promise) as WorkerExportResult;
    if (path.dirname(value.path) !== this.config.exportDir) {
      throw new SluiceError('INTERNAL', 'export landed outside the export directory');
    }
    return {
      path: value.path,
      rows: value.rows,
      bytes: value.bytes,
      durationMs: value.durationMs,
      cleanup: () => rm(value.path, { force: true }),
    };
  }

  /** Worker processes and queue, for health checks and tests. */
  stats(): PoolStats {
    return {
      workers: this.slots.map((s) => ({
        pid: s.child?.pid ?? null,
        state: s.state,
        threads: s.threads,
        solo: s.solo,
        served: s.served,
      })),
      queued: this.queue.length,
      restarts: this.restarts,
    };
  }

  /** The hardening settings the most recently started worker read back (and the pool checked). */
  verifiedSettings(): Readonly<Record<string, string>> {
    return this.lastSettings;
  }

  /**
   * Test-only: raw SQL on a worker's connection, a crash, or a blocked event loop.
   * @throws SluiceError FORBIDDEN unless the pool was created with `testHooks`.
   */
  async unsafeTestHook(test: TestOp, timeoutMs?: number): Promise<unknown> {
    if (!this.config.testHooks) throw new SluiceError('FORBIDDEN', 'test hooks are disabled');
    return this.submit({ type: 'test', test }, timeoutMs ?? this.defaultTimeoutMs).promise;
  }

  /** Stops every worker; queued and running requests fail with ENGINE_UNAVAILABLE. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.serving = false;
    for (const job of this.queue.splice(0)) this.settle(job, unavailable('engine pool is closed'));
    await Promise.all(this.slots.map((slot) => this.stopWorker(slot)));
  }

  // -------------------------------------------------------------------------------------------
  // Queue

  private submit(body: JobBody, budgetMs: number): { job: Job; promise: Promise<unknown> } {
    let resolve!: (v: unknown) => void;
    let reject!: (e: SluiceError) => void;
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const now = performance.now();
    const job: Job = {
      body,
      submittedAt: now,
      deadline: now + budgetMs,
      dispatchedAt: now,
      id: 0,
      settled: false,
      queueTimer: null,
      backstop: null,
      resolve,
      reject,
    };
    if (this.closed) {
      this.settle(job, unavailable('engine pool is closed'));
    } else if (this.slots.every((s) => s.state === 'failed')) {
      this.settle(job, unavailable('no engine is available'));
    } else {
      const slot = this.pickSlot();
      if (slot) {
        this.dispatch(slot, job);
      } else if (this.queue.length >= this.queueLimit) {
        this.settle(job, new SluiceError('LIMIT_EXCEEDED', 'the engine queue is full'));
      } else {
        job.queueTimer = setTimeout(() => {
          const i = this.queue.indexOf(job);
          if (i >= 0) this.queue.splice(i, 1);
          this.settle(job, this.timeoutError(job));
        }, budgetMs);
        this.queue.push(job);
      }
    }
    return { job, promise };
  }

  /**
   * An idle worker for the next job: the solo worker when nothing else runs (or when it is the
   * only one left), otherwise an idle regular worker; undefined means wait.
   */
  private pickSlot(): Slot | undefined {
    const solo = this.slots.find((s) => s.solo && s.state === 'idle');
    if (solo && !this.slots.some((s) => s.state === 'busy')) return solo;
    const regular = this.slots.find((s) => !s.solo && s.state === 'idle');
    if (regular) return regular;
    const regularLeft = this.slots.some((s) => !s.solo && s.state !== 'failed');
    return regularLeft ? undefined : solo;
  }

  private pump(): void {
    for (;;) {
      const slot = this.pickSlot();
      const job = slot ? this.queue.shift() : undefined;
      if (!slot || !job) return;
      if (job.queueTimer) clearTimeout(job.queueTimer);
      this.dispatch(slot, job);
    }
  }

  private dispatch(slot: Slot, job: Job): void {
    const now = performance.now();
    const remaining = job.deadline - now;
    if (remaining <= 0 || slot.child === null) {
      this.settle(job, remaining <= 0 ? this.timeoutError(job) : unavailable('engine stopped'));
      return;
    }
    job.id = ++this.nextId;
    job.dispatchedAt = now;
    slot.state = 'busy';
    slot.job = job;
    const timeoutMs = Math.ceil(remaining);
    let message: ParentMessage;
    switch (job.body.type) {
      case 'query': {
        const { plan, maxRows, format } = job.body.request;
        message = {
          type: 'query',
          id: job.id,
          plan: {
            sql: plan.sql,
            shaped: plan.shaped,
            ...(plan.rowBound !== undefined ? { rowBound: plan.rowBound } : {}),
          },
          maxRows,
          format,
          timeoutMs,
        };
        break;
      }
      case 'export':
        message = {
          type: 'export',
          id: job.id,
          dataset: job.body.dataset,
          format: job.body.format,
          timeoutMs,
        };
        break;
      case 'test':
        message = { type: 'test', id: job.id, test: job.body.test };
        break;
    }
    job.backstop = setTimeout(() => {
      // The worker did not answer within its budget plus grace: kill it, answer TIMEOUT.
      if (slot.job === job) {
        this.settle(job, this.timeoutError(job));
        slot.child?.kill('SIGKILL');
      }
    }, timeoutMs + this.graceMs);
    slot.child.send(message);
  }

  private timeoutError(job: Job): SluiceError {
    const ms = Math.round(job.deadline - job.submittedAt);
    return new SluiceError('TIMEOUT', `the query exceeded its time limit of ${ms} ms`);
  }

  private settle(job: Job, outcome: SluiceError | { value: unknown }): void {
    if (job.settled) return;
    job.settled = true;
    if (job.queueTimer) clearTimeout(job.queueTimer);
    if (job.backstop) clearTimeout(job.backstop);
    if (outcome instanceof SluiceError) job.reject(outcome);
    else job.resolve(outcome.value);
  }

  // -------------------------------------------------------------------------------------------
  // Workers

  private async startWorker(slot: Slot): Promise<void> {
    slot.state = 'starting';
    slot.tempDir = path.join(
      this.tempRoot,
      `engine-${slot.index}-${randomBytes(6).toString('hex')}`,
    );
    await mkdir(slot.tempDir, { recursive: true, mode: 0o700 });
    const config: WorkerConfig = { ...this.config, threads: slot.threads, tempDir: slot.tempDir };
    return new Promise<void>((resolve, reject) => {
      const child = fork(WORKER_PATH, [], {
        serialization: 'advanced',
        execArgv: [],
        // Nothing from the host environment reaches the engine process, and anything it writes
        // by a relative path (a core dump included) lands in its own spill directory.
        env: { TZ: 'UTC' },
        cwd: slot.tempDir,
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      });
      slot.child = child;
      slot.pendingStart = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.failStart(slot, unavailable('engine start timed out'));
          child.kill('SIGKILL');
        }, this.startTimeoutMs),
      };
      child.on('message', (msg: WorkerMessage) => this.onMessage(slot, child, msg, config));
      child.on('exit', () => this.onExit(slot, child));
      child.on('error', () => {
        // Surfaces as 'exit' (or a failed send); nothing to add here.
      });
      child.send({ type: 'init', config } satisfies ParentMessage);
    });
  }

  private failStart(slot: Slot, err: SluiceError): void {
    const pending = slot.pendingStart;
    if (!pending) return;
    slot.pendingStart = null;
    clearTimeout(pending.timer);
    pending.reject(err);
  }

  private onMessage(
    slot: Slot,
    child: ChildProcess,
    msg: WorkerMessage,
    config: HardeningConfig,
  ): void {
    if (slot.child !== child) return;
    switch (msg.type) {
      case 'ready': {
        const pending = slot.pendingStart;
        if (!pending) return;
        const failed = verifyHardening(msg.settings, msg.databases, config);
        if (failed.length > 0) {
          this.failStart(
            slot,
            unavailable(`engine hardening verification failed: ${failed.join(', ')}`),
          );
          child.kill('SIGKILL');
          return;
        }
        slot.pendingStart = null;
        clearTimeout(pending.timer);
        this.lastSettings = msg.settings;
        slot.state = 'idle';
        slot.startFailures = 0;
        pending.resolve();
        this.pump();
        return;
      }
      case 'init-failed':
        this.failStart(slot, unavailable(msg.error.message));
        return;
      case 'reply': {
        const job = slot.job;
        if (!job || job.id !== msg.id) return;
        slot.job = null;
        slot.state = 'idle';
        slot.served++;
        this.settle(
          job,
          msg.ok
            ? { value: msg.value }
            : new SluiceError(msg.error.code as ErrorCode, msg.error.message),
        );
        this.pump();
        return;
      }
    }
  }

  private onExit(slot: Slot, child: ChildProcess): void {
    if (slot.child !== child) return;
    slot.child = null;
    this.failStart(slot, unavailable('engine exited during start'));
    const job = slot.job;
    slot.job = null;
    if (job) this.settle(job, unavailable('the engine stopped while running the request'));
    const dir = slot.tempDir;
    void rm(dir, { recursive: true, force: true });
    if (this.closed) {
      slot.state = 'stopped';
      return;
    }
    if (!this.serving) return;
    this.respawn(slot);
  }

  private respawn(slot: Slot): void {
    this.restarts++;
    this.startWorker(slot).catch(() => {
      slot.startFailures++;
      if (slot.startFailures >= MAX_START_FAILURES) {
        slot.state = 'failed';
        if (this.slots.every((s) => s.state === 'failed')) {
          for (const job of this.queue.splice(0)) {
            this.settle(job, unavailable('no engine is available'));
          }
        }
        return;
      }
      setTimeout(
        () => {
          if (!this.closed && slot.child === null) this.respawn(slot);
        },
        100 * 2 ** slot.startFailures,
      ).unref();
    });
  }

  private async stopWorker(slot: Slot): Promise<void> {
    const child = slot.child;
    if (child === null) {
      slot.state = 'stopped';
      if (slot.tempDir) await rm(slot.tempDir, { recursive: true, force: true });
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    if (child.connected) child.send({ type: 'shutdown' } satisfies ParentMessage);
    const timer = setTimeout(() => child.kill('SIGKILL'), 2_000);
    await exited;
    clearTimeout(timer);
    await rm(slot.tempDir, { recursive: true, force: true });
  }
}
