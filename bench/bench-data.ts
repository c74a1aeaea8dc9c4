/**
 * Benchmark data, generated once and kept in `.bench/` (git-ignored) between runs: gateway data
 * directories (the demo, optionally with TPC-H and with `citizens` at a larger size) and the
 * citizens CSV the PostgreSQL peer loads. Generation is deterministic, so the CSV and the
 * gateway's table hold the same rows.
 */
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DuckDBInstance } from '@duckdb/node-api';
import { generateCitizens } from '../datasets/citizens.ts';
import { ensureDemoData, GENERATOR_VERSION, openDatasetFile } from '../datasets/seed.ts';

export const REPO_ROOT = path.resolve(fileURLToPath(new URL('..', import.meta.url)));
export const BENCH_DIR = path.join(REPO_ROOT, '.bench');

export interface GatewayData {
  readonly dataDir: string;
  readonly dbPath: string;
  /** Time spent generating in this run (0 when everything was cached). */
  readonly prepMs: number;
}

async function countRows(dbPath: string, table: string): Promise<number> {
  const inst = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  try {
    const conn = await inst.connect();
    const r = await conn.runAndReadAll(`SELECT count(*) FROM ${table}`);
    conn.closeSync();
    return Number(r.getRows()[0]![0]);
  } finally {
    inst.closeSync();
  }
}

/**
 * A gateway data directory `.bench/<name>`: the demo seed (with TPC-H at `tpchScale` when
 * given), then `citizens` replaced by `citizens` generated rows when that differs from what
 * the file holds.
 */
export async function prepareGatewayData(opts: {
  name: string;
  tpchScale?: number;
  citizens?: number;
}): Promise<GatewayData> {
  const dataDir = path.join(BENCH_DIR, opts.name);
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const t0 = performance.now();
  const { dbPath } = await ensureDemoData({
    dataDir,
    ...(opts.tpchScale ? { tpchScale: opts.tpchScale } : {}),
  });
  let seeded = performance.now() - t0;
  if (seeded < 1000) seeded = 0;
  if (opts.citizens !== undefined && (await countRows(dbPath, 'citizens')) !== opts.citizens) {
    const t1 = performance.now();
    const { instance, conn } = await openDatasetFile(dbPath);
    try {
      await conn.run('DROP TABLE citizens');
      await generateCitizens(conn, opts.citizens);
      await conn.run('CHECKPOINT datasets');
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
    seeded += performance.now() - t1;
  }
  return { dataDir, dbPath, prepMs: seeded };
}

/**
 * `.bench/citizens-<rows>-g<generator version>.csv` with a header, generated once, in the order
 * the gateway's table stores the rows (clustered by district), so the peer loads the same
 * physical layout.
 */
export async function citizensCsv(rows: number): Promise<string> {
  const file = path.join(BENCH_DIR, `citizens-${rows}-g${GENERATOR_VERSION}.csv`);
  if (existsSync(file)) return file;
  await mkdir(BENCH_DIR, { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  const inst = await DuckDBInstance.create(':memory:');
  try {
    const conn = await inst.connect();
    await generateCitizens(conn, rows);
    await conn.run(
      `COPY (SELECT id, name, id_card, phone, gender, birth_date, district, income FROM citizens ORDER BY district, id) TO '${tmp}' (FORMAT csv, HEADER true)`,
    );
    conn.closeSync();
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  } finally {
    inst.closeSync();
  }
  await rename(tmp, file);
  return file;
}
