/**
 * Engine pool figures with a raw-DuckDB baseline in the same run. Not part of `npm test`
 * (belongs in bench/ once the lead moves it). Run:
 *   node bench/engine-measure.ts
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EnginePool } from '../sandbox/engine-pool.ts';

const SMALL_RUNS = 200;
const BIG_ROWS = 1_000_000;

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
function summary(ms: number[]): string {
  const s = [...ms].sort((a, b) => a - b);
  return `p50 ${pct(s, 50).toFixed(2)} ms, p95 ${pct(s, 95).toFixed(2)} ms, p99 ${pct(s, 99).toFixed(2)} ms`;
}

function planFor(dataset: string, user: string) {
  const body = `SELECT * FROM "sluice_data"."main"."${dataset}"`;
  return {
    sql: `WITH "sluice$${dataset}" AS NOT MATERIALIZED (${body}) ${user}`,
    shaped: [{ name: `sluice$${dataset}`, dataset, sql: body }],
  };
}

const dir = await mkdtemp(path.join(tmpdir(), 'sluice-measure-'));
const dbPath = path.join(dir, 'datasets.duckdb');
try {
  {
    const inst = await DuckDBInstance.create(dbPath);
    const c = await inst.connect();
    await c.run(`CREATE TABLE big AS SELECT i::BIGINT AS id, 'name-' || i AS name,
      (i * 0.37)::DOUBLE AS value, (i % 100000)::DECIMAL(15,2) AS amount,
      DATE '2000-01-01' + (i % 9000)::INTEGER AS day FROM range(${BIG_ROWS}) t(i)`);
    c.closeSync();
    inst.closeSync();
  }
  const small = 'SELECT count(*), sum(amount) FROM "sluice$big" WHERE id < 1000';
  const all = 'SELECT * FROM "sluice$big"';

  // Baseline: the same SQL on an in-process DuckDB (no second check, no IPC, no encoding rules).
  const base = await DuckDBInstance.create(':memory:', { threads: '1' });
  const bc = await base.connect();
  await bc.run(`ATTACH '${dbPath}' AS sluice_data (READ_ONLY)`);
  const baseSmall: number[] = [];
  for (let i = 0; i < SMALL_RUNS; i++) {
    const t = performance.now();
    (await bc.runAndReadAll(planFor('big', small).sql)).getRowsJson();
    baseSmall.push(performance.now() - t);
  }
  let t = performance.now();
  const baseRows = (await bc.runAndReadAll(planFor('big', all).sql)).getRowsJson();
  const baseBigMs = performance.now() - t;
  bc.closeSync();
  base.closeSync();

  const pool = await EnginePool.create({
    dbPath,
    tempDir: path.join(dir, 'tmp'),
    exportDir: path.join(dir, 'exports'),
    timeoutMs: 120_000,
    workers: 2,
    threads: 1,
    memoryLimit: '1GB',
  });
  try {
    const poolSmall: number[] = [];
    const checkMs: number[] = [];
    for (let i = 0; i < SMALL_RUNS; i++) {
      const t0 = performance.now();
      const r = await pool.query({ plan: planFor('big', small), maxRows: 10, format: 'json' });
      poolSmall.push(performance.now() - t0);
      checkMs.push(r.timings.secondCheckMs);
    }
    t = performance.now();
    const json = await pool.query({ plan: planFor('big', all), maxRows: BIG_ROWS, format: 'json' });
    const jsonMs = performance.now() - t;
    t = performance.now();
    const arrow = await pool.query({
      plan: planFor('big', all),
      maxRows: BIG_ROWS,
      format: 'arrow',
    });
    const arrowMs = performance.now() - t;

    const rate = (ms: number) =>
      `${Math.round(BIG_ROWS / (ms / 1000)).toLocaleString('en')} rows/s`;
    console.log('command: node bench/engine-measure.ts');
    console.log(`machine: ${process.arch}, node ${process.version}, workers 2 x threads 1`);
    console.log(`small query round trip, ${SMALL_RUNS} runs`);
    console.log(`  pool (second check + IPC): ${summary(poolSmall)}`);
    console.log(`  of which second check:     ${summary(checkMs)}`);
    console.log(`  baseline raw DuckDB:       ${summary(baseSmall)}`);
    console.log(`1M-row result (5 columns: BIGINT, VARCHAR, DOUBLE, DECIMAL, DATE)`);
    console.log(
      `  pool json:  ${jsonMs.toFixed(0)} ms, ${rate(jsonMs)}, ${(json.bytes / 1e6).toFixed(1)} MB, rows ${json.rowCount}`,
    );
    console.log(
      `  pool arrow: ${arrowMs.toFixed(0)} ms, ${rate(arrowMs)}, ${(arrow.bytes / 1e6).toFixed(1)} MB`,
    );
    console.log(
      `  baseline raw DuckDB getRowsJson: ${baseBigMs.toFixed(0)} ms, ${rate(baseBigMs)}, rows ${baseRows.length}`,
    );
  } finally {
    await pool.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
