/**
 * Engine worker: a child process holding one hardened DuckDB instance and one connection.
 * Started by EnginePool with `child_process.fork(..., { serialization: 'advanced' })`; serves
 * one request at a time. Every query runs the second check first; there is no way to skip it.
 *
 * Start-up: create the in-memory instance with start-up-only options, ATTACH the dataset file
 * READ_ONLY, apply the SETs of engine-hardening.ts (ending with lock_configuration), read every
 * hardening setting back and refuse to serve when one differs.
 */

import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import {
  type DuckDBConnection,
  type DuckDBDataChunk,
  DuckDBInstance,
  type DuckDBPreparedStatement,
  type DuckDBResult,
  type DuckDBType,
  type DuckDBValue,
  StatementType,
  VARCHAR,
} from '@duckdb/node-api';
import { RecordBatchStreamWriter, Table, tableToIPC } from 'apache-arrow';
import { SluiceError } from '../gateway/errors.ts';
import { type ArrowLayout, arrowLayout, recordBatch } from './arrow-values.ts';
import { duckdbParser } from './duckdb-parser.ts';
import { duckdbErrorClass, isFatalEngineError, wrapEngineError } from './engine-errors.ts';
import {
  attachStatement,
  hardeningStatements,
  startupOptions,
  validateConfig,
  verifyHardening,
} from './engine-hardening.ts';
import type {
  ExportRequestMessage,
  ParentMessage,
  QueryRequestMessage,
  ResultRead,
  TestOp,
  WorkerConfig,
  WorkerExportResult,
  WorkerMessage,
  WorkerQueryResult,
} from './engine-protocol.ts';
import { type JsonEncoder, jsonEncoderFor } from './json-values.ts';
import { type Serialize, secondCheck } from './second-check.ts';

const DATASET_ID = /^[a-z][a-z0-9_]*$/;

interface Engine {
  readonly instance: DuckDBInstance;
  readonly conn: DuckDBConnection;
  readonly config: WorkerConfig;
  /** DuckDB's parser, prepared once: `json_serialize_sql` is the second check's input. */
  readonly parse: Serialize;
}

/**
 * Bounded caches for the second check. Both are sound because DuckDB's parser and the check
 * are pure functions of the text: the same SQL always serializes, and verifies, the same way.
 * Parses are reused across queries (the policy-shaped relations repeat in every query of a
 * scope); verdicts are reused when the same plan runs again.
 */
const VERDICT_CACHE_SIZE = 2048;
const verdictCache = new Set<string>();

function remember<K>(cache: Map<K, unknown> | Set<K>, key: K, limit: number): void {
  if (cache.size >= limit) cache.delete(cache.keys().next().value as K);
  if (cache instanceof Set) cache.add(key);
}

let engine: Engine | null = null;
let busy = false;

function send(msg: WorkerMessage): Promise<void> {
  return new Promise((resolve) => {
    if (!process.send || !process.connected) {
      resolve();
      return;
    }
    process.send(msg, undefined, undefined, () => resolve());
  });
}

function wire(err: unknown): { code: SluiceError['code']; message: string } {
  const e = wrapEngineError(err);
  return { code: e.code, message: e.message };
}

// ---------------------------------------------------------------------------------------------
// Start-up and hardening

async function start(config: WorkerConfig): Promise<void> {
  try {
    validateConfig(config);
  } catch (err) {
    throw new SluiceError('ENGINE_UNAVAILABLE', `invalid engine configuration: ${String(err)}`);
  }
  await mkdir(config.tempDir, { recursive: true, mode: 0o700 });
  const instance = await DuckDBInstance.create(':memory:', startupOptions());
  const conn = await instance.connect();
  await conn.run(attachStatement(config));
  for (const statement of hardeningStatements(config)) await conn.run(statement);

  const settingRows = (await conn.runAndReadAll('SELECT name, value FROM duckdb_settings()'))
    .getRows()
    .map(([name, value]) => [String(name), String(value ?? '')] as const);
  const settings = Object.fromEntries(settingRows);
  const databases = (
    await conn.runAndReadAll('SELECT database_name, path, readonly FROM duckdb_databases()')
  )
    .getRows()
    .map(([name, path, readonly]) => ({
      name: String(name),
      path: path === null ? null : String(path),
      readonly: readonly === true,
    }));
  const failed = verifyHardening(settings, databases, config);
  if (failed.length > 0) {
    conn.closeSync();
    instance.closeSync();
    throw new SluiceError(
      'ENGINE_UNAVAILABLE',
      `engine hardening verification failed: ${failed.join(', ')}`,
    );
  }
  engine = { instance, conn, config, parse: await duckdbParser(conn) };
  await send({ type: 'ready', settings, databases });
}

// ---------------------------------------------------------------------------------------------
// Queries

/** Interrupts the connection when the budget runs out; `expired` tells why a query failed. */
class Deadline {
  expired = false;
  private readonly timer: NodeJS.Timeout;

  constructor(conn: DuckDBConnection, ms: number) {
    this.timer = setTimeout(
      () => {
        this.expired = true;
        conn.interrupt();
      },
      Math.max(1, ms),
    );
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

function timeoutError(ms: number): SluiceError {
  return new SluiceError('TIMEOUT', `the query exceeded its time limit of ${Math.round(ms)} ms`);
}

/** The second check, skipped only for a plan whose exact text already passed it. */
async function checkPlan(e: Engine, plan: QueryRequestMessage['plan']): Promise<void> {
  const key = JSON.stringify([plan.sql, plan.shaped]);
  if (verdictCache.has(key)) return;
  await secondCheck(plan, e.parse, { dataCatalog: e.config.dataCatalog });
  remember(verdictCache, key, VERDICT_CACHE_SIZE);
}

interface Sink {
  add(chunk: DuckDBDataChunk, take: number): void;
  finish(): { rowsJson: string; arrow?: Uint8Array; bytes: number };
}

function columnValues(chunk: DuckDBDataChunk, take: number): DuckDBValue[][] {
  const cols: DuckDBValue[][] = [];
  for (let c = 0; c < chunk.columnCount; c++) {
    const values = chunk.getColumnValues(c);
    cols.push(take < values.length ? values.slice(0, take) : values);
  }
  return cols;
}

class JsonSink implements Sink {
  private readonly encoders: readonly JsonEncoder[];
  private readonly parts: string[] = [];

  constructor(types: readonly DuckDBType[]) {
    this.encoders = types.map(jsonEncoderFor);
  }

  add(chunk: DuckDBDataChunk, take: number): void {
    const cols = columnValues(chunk, take);
    const rows: unknown[][] = new Array(take);
    for (let r = 0; r < take; r++) {
      const row = new Array(cols.length);
      for (let c = 0; c < cols.length; c++) row[c] = this.encoders[c]!(cols[c]![r]!);
      rows[r] = row;
    }
    this.parts.push(JSON.stringify(rows).slice(1, -1));
  }

  finish() {
    const rowsJson = `[${this.parts.join(',')}]`;
    return { rowsJson, bytes: Buffer.byteLength(rowsJson) };
  }
}

class ArrowSink implements Sink {
  private readonly layout: ArrowLayout;
  private readonly batches: ReturnType<typeof recordBatch>[] = [];

  constructor(names: readonly string[], types: readonly DuckDBType[]) {
    this.layout = arrowLayout(names, types);
  }

  add(chunk: DuckDBDataChunk, take: number): void {
    this.batches.push(recordBatch(this.layout, columnValues(chunk, take), take));
  }

  finish() {
    const arrow = tableToIPC(new Table(this.layout.schema, this.batches), 'stream');
    return { rowsJson: '', arrow, bytes: arrow.byteLength };
  }
}

/**
 * Prepared statements of checked plans, by exact text: a repeated query skips DuckDB's parse,
 * bind and optimize (about half the engine time of a small policy query). Data files are
 * read-only while a worker lives, so a prepared plan never goes stale.
 */
const PREPARED_CACHE_SIZE = 256;
const preparedCache = new Map<string, DuckDBPreparedStatement>();

/**
 * A result the plan bounds to at most this many rows (its outer LIMIT) is computed whole and
 * its chunks read in place: one trip through libuv's thread pool instead of one per chunk
 * plus the final empty fetch, about 0.15 ms per small query (`./sluice bench --only stages`).
 * Larger or unbounded results stream, so reading stops as soon as the row cap is passed.
 */
const MATERIALIZE_MAX_ROWS = 10_000;

/** A result and the way to read its chunks in order (null at the end). */
interface Rows {
  readonly result: DuckDBResult;
  readonly read: ResultRead;
  next(): Promise<DuckDBDataChunk | null>;
}

async function runSelect(
  conn: DuckDBConnection,
  sql: string,
  rowBound: number | undefined,
): Promise<Rows> {
  let prepared = preparedCache.get(sql);
  if (prepared === undefined) {
    const extracted = await conn.extractStatements(sql);
    if (extracted.count !== 1) {
      throw new SluiceError('POLICY_DENIED', 'second check: exactly one statement is allowed');
    }
    prepared = await extracted.prepare(0);
    if (prepared.statementType !== StatementType.SELECT) {
      prepared.destroySync();
      throw new SluiceError('POLICY_DENIED', 'second check: only SELECT statements run');
    }
    if (preparedCache.size >= PREPARED_CACHE_SIZE) {
      const oldest = preparedCache.keys().next().value!;
      preparedCache.get(oldest)!.destroySync();
      preparedCache.delete(oldest);
    }
    preparedCache.set(sql, prepared);
  } else {
    // Most recently used last.
    preparedCache.delete(sql);
    preparedCache.set(sql, prepared);
  }
  if (rowBound !== undefined && rowBound <= MATERIALIZE_MAX_ROWS) {
    const result = await prepared.run();
    let at = 0;
    return {
      result,
      read: 'whole',
      next: async () => (at < result.chunkCount ? result.getChunk(at++) : null),
    };
  }
  const result = await prepared.stream();
  return { result, read: 'streamed', next: () => result.fetchChunk() };
}

async function runQuery(e: Engine, req: QueryRequestMessage): Promise<WorkerQueryResult> {
  const { conn } = e;
  const deadline = new Deadline(conn, req.timeoutMs);
  try {
    const t0 = performance.now();
    await checkPlan(e, req.plan);
    const t1 = performance.now();
    const { result, read, next } = await runSelect(conn, req.plan.sql, req.plan.rowBound);
    const names = result.columnNames();
    const types = result.columnTypes();
    const sink: Sink = req.format === 'arrow' ? new ArrowSink(names, types) : new JsonSink(types);
    let rowsRead = 0;
    let kept = 0;
    let truncated = false;
    for (;;) {
      if (deadline.expired) throw timeoutError(req.timeoutMs);
      const chunk = await next();
      if (chunk === null || chunk.rowCount === 0) break;
      rowsRead += chunk.rowCount;
      const take = Math.min(chunk.rowCount, req.maxRows - kept);
      if (take > 0) {
        sink.add(chunk, take);
        kept += take;
      }
      // Chunks hold up to 2,048 rows: the cap is enforced by slicing, and reading stops as
      // soon as one row beyond it has been seen.
      if (rowsRead > req.maxRows) {
        truncated = true;
        break;
      }
    }
    // An interrupt during streaming can surface as an empty chunk instead of an error, so a
    // result cut short by the deadline must not pass as complete.
    if (deadline.expired) throw timeoutError(req.timeoutMs);
    const out = sink.finish();
    return {
      columns: names.map((name, i) => ({ name, type: types[i]!.toString() })),
      rowsJson: out.rowsJson,
      ...(out.arrow ? { arrow: out.arrow } : {}),
      rowCount: kept,
      truncated,
      bytes: out.bytes,
      secondCheckMs: t1 - t0,
      executeMs: performance.now() - t1,
      rowsRead,
      resultRead: read,
    };
  } catch (err) {
    if (deadline.expired) throw timeoutError(req.timeoutMs);
    if (err instanceof SluiceError) throw err;
    if (err instanceof RangeError || err instanceof TypeError) {
      throw new SluiceError('INTERNAL', 'the result could not be encoded');
    }
    throw wrapEngineError(err);
  } finally {
    deadline.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Whole-dataset exports

const COPY_OPTIONS = {
  csv: 'FORMAT csv, HEADER true',
  parquet: 'FORMAT parquet, COMPRESSION zstd',
  json: 'FORMAT json',
} as const;

async function runExport(e: Engine, req: ExportRequestMessage): Promise<WorkerExportResult> {
  const { conn, config } = e;
  if (!DATASET_ID.test(req.dataset)) throw new SluiceError('BAD_REQUEST', 'invalid dataset id');
  const deadline = new Deadline(conn, req.timeoutMs);
  const started = performance.now();
  const path = `${config.exportDir}/${randomUUID()}.${req.format}`;
  try {
    const found = await conn.runAndReadAll(
      "SELECT count(*) FROM duckdb_tables() WHERE database_name = $1 AND schema_name = 'main' AND table_name = $2",
      [config.dataCatalog, req.dataset],
      [VARCHAR, VARCHAR],
    );
    if (Number(found.getRows()[0]?.[0]) !== 1) {
      throw new SluiceError('NOT_FOUND', 'dataset not found');
    }
    // Safe to splice: both names match ^[a-z][a-z0-9_]*$ and the path is generated here.
    const source = `SELECT * FROM "${config.dataCatalog}"."main"."${req.dataset}"`;
    let rows: number;
    if (req.format === 'arrow') {
      rows = await writeArrowFile(conn, source, path, deadline);
    } else {
      const copied = await conn.runAndReadAll(
        `COPY (${source}) TO '${path}' (${COPY_OPTIONS[req.format]})`,
      );
      rows = Number(copied.getRows()[0]?.[0] ?? copied.rowsChanged);
    }
    const { size } = await stat(path);
    return { path, rows, bytes: size, durationMs: performance.now() - started };
  } catch (err) {
    await rm(path, { force: true });
    if (deadline.expired) throw timeoutError(req.timeoutMs);
    throw wrapEngineError(err);
  } finally {
    deadline.clear();
  }
}

async function writeArrowFile(
  conn: DuckDBConnection,
  source: string,
  path: string,
  deadline: Deadline,
): Promise<number> {
  const result = await conn.stream(source);
  const layout = arrowLayout(result.columnNames(), result.columnTypes());
  const writer = new RecordBatchStreamWriter();
  const written = pipeline(writer.toNodeStream(), createWriteStream(path, { mode: 0o600 }));
  let rows = 0;
  try {
    // Writes the schema now, so an empty dataset still yields a readable stream.
    writer.reset(undefined, layout.schema);
    for (;;) {
      if (deadline.expired) throw new SluiceError('TIMEOUT', 'export timed out');
      const chunk = await result.fetchChunk();
      if (chunk === null || chunk.rowCount === 0) break;
      writer.write(recordBatch(layout, columnValues(chunk, chunk.rowCount), chunk.rowCount));
      rows += chunk.rowCount;
    }
  } finally {
    writer.finish();
    await written;
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// Test-only hooks (enabled by WorkerConfig.testHooks)

async function runTest(e: Engine, test: TestOp): Promise<unknown> {
  if (!e.config.testHooks) throw new SluiceError('FORBIDDEN', 'test hooks are disabled');
  switch (test.op) {
    case 'raw': {
      try {
        return (await e.conn.runAndReadAll(test.sql)).getRowsJson();
      } catch (err) {
        throw wrapEngineError(err);
      }
    }
    case 'abort':
      process.abort();
      return null;
    case 'block': {
      const until = Date.now() + test.ms;
      while (Date.now() < until) {
        // Deliberately starve the event loop so the in-worker interrupt cannot fire.
      }
      return null;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Message loop

async function serve(msg: QueryRequestMessage | ExportRequestMessage | TestOpMessage) {
  const e = engine;
  if (e === null || busy) {
    await send({
      type: 'reply',
      id: msg.id,
      ok: false,
      error: { code: 'ENGINE_UNAVAILABLE', message: 'engine is not ready' },
    });
    return;
  }
  busy = true;
  let fatal = false;
  try {
    const value =
      msg.type === 'query'
        ? await runQuery(e, msg)
        : msg.type === 'export'
          ? await runExport(e, msg)
          : await runTest(e, msg.test);
    await send({ type: 'reply', id: msg.id, ok: true, value });
  } catch (err) {
    fatal = isFatalEngineError(err);
    await send({ type: 'reply', id: msg.id, ok: false, error: wire(err) });
  } finally {
    busy = false;
  }
  // DuckDB invalidates an instance after an internal error: leave and let the pool replace us.
  if (fatal) process.exit(1);
}

type TestOpMessage = Extract<ParentMessage, { type: 'test' }>;

process.on('message', (msg: ParentMessage) => {
  switch (msg.type) {
    case 'init':
      start(msg.config).catch(async (err: unknown) => {
        // Only our own messages or a DuckDB error class leave this process.
        const message =
          err instanceof SluiceError
            ? err.message
            : `engine failed to start (${duckdbErrorClass(err instanceof Error ? err.message : '') ?? 'unknown error'})`;
        await send({ type: 'init-failed', error: { code: 'ENGINE_UNAVAILABLE', message } });
        process.exit(1);
      });
      return;
    case 'query':
    case 'export':
    case 'test':
      void serve(msg);
      return;
    case 'shutdown':
      engine?.conn.closeSync();
      engine?.instance.closeSync();
      process.exit(0);
  }
});

// The pool owns this process: when it goes away, so do we.
process.on('disconnect', () => process.exit(0));
