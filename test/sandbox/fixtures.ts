/**
 * Shared set-up for the engine tests: a small datasets.duckdb in a temp dir, plans in the
 * planner's shape, and `withPool`, which always closes the pool.
 */

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EnginePool, type EnginePoolOptions } from '../../sandbox/engine-pool.ts';

export interface Fixture {
  readonly dir: string;
  readonly dbPath: string;
  readonly tempDir: string;
  readonly exportDir: string;
  cleanup(): Promise<void>;
}

/** Every type the JSON and Arrow encodings cover, one row of values and one row of NULLs. */
export const TYPES_TABLE = `CREATE TABLE types AS
SELECT * FROM (
  SELECT 1 AS id,
    true AS b,
    -7::TINYINT AS i8, 300::SMALLINT AS i16, -70000::INTEGER AS i32,
    9007199254740991::BIGINT AS i64_safe, 9007199254740993::BIGINT AS i64_big,
    255::UTINYINT AS u8, 65535::USMALLINT AS u16, 4294967295::UINTEGER AS u32,
    18446744073709551615::UBIGINT AS u64,
    170141183460469231731687303715884105727::HUGEINT AS i128,
    -5::HUGEINT AS i128_small,
    340282366920938463463374607431768211455::UHUGEINT AS u128,
    0.1::FLOAT AS f32, 0.1::DOUBLE AS f64,
    'NaN'::DOUBLE AS f64_nan, 'inf'::DOUBLE AS f64_inf, '-inf'::FLOAT AS f32_ninf,
    1234.50::DECIMAL(15,2) AS dec, -0.05::DECIMAL(4,2) AS dec_neg,
    12345678901234567.89::DECIMAL(38,2) AS dec_wide,
    1.1::DECIMAL(38,10) AS dec_scale,
    'héllo 世界'::VARCHAR AS s,
    '\\xDE\\xAD\\xBE\\xEF'::BLOB AS bl,
    DATE '2024-02-29' AS d,
    DATE '0001-01-01' AS d_min,
    TIMESTAMP '2024-01-02 03:04:05.123456' AS ts,
    TIMESTAMP '1969-12-31 23:59:59.5' AS ts_neg,
    TIMESTAMPTZ '2024-01-02 03:04:05.5+02' AS tstz,
    TIMESTAMP_S '2024-01-02 03:04:05' AS ts_s,
    TIMESTAMP_MS '2024-01-02 03:04:05.123' AS ts_ms,
    TIMESTAMP_NS '2024-01-02 03:04:05.123456789' AS ts_ns,
    TIME '12:34:56.789' AS t,
    INTERVAL '1 year 2 months 3 days 04:05:06.5' AS iv,
    -INTERVAL '1 day' AS iv_neg,
    [1, 2, NULL]::INTEGER[] AS l,
    [[1], [], NULL]::INTEGER[][] AS ll,
    [1.5, 2.5]::DOUBLE[2] AS arr,
    {'x': 1, 'y': 'a'} AS st,
    MAP {'k1': 10, 'k2': 20} AS m,
    '6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS u,
    'b'::ENUM('a', 'b') AS e
  UNION ALL
  SELECT 2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
    NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
)`;

/** Creates a dataset file with `citizens`, `numbers` (5,000 rows), `heavy` and `types`. */
export async function createFixture(): Promise<Fixture> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-sandbox-'));
  const dbPath = path.join(dir, 'datasets.duckdb');
  const instance = await DuckDBInstance.create(dbPath);
  const conn = await instance.connect();
  try {
    await conn.run(`
      CREATE TABLE citizens AS
        SELECT i::INTEGER AS id, 'name' || i AS name, '13800000' || lpad(i::VARCHAR, 3, '0') AS phone,
          CASE WHEN i % 2 = 0 THEN 'Pudong' ELSE 'Xuhui' END AS district, (i * 1000.5)::DOUBLE AS income
        FROM range(100) t(i);
      CREATE TABLE numbers AS SELECT i::BIGINT AS n FROM range(5000) t(i);
      CREATE TABLE heavy AS SELECT i::INTEGER AS x FROM range(200000) t(i);
      ${TYPES_TABLE};`);
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
  return {
    dir,
    dbPath,
    tempDir: path.join(dir, 'tmp'),
    exportDir: path.join(dir, 'exports'),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

/** A plan in the planner's shape: one policy-shaped CTE over the whole stored table. */
export function planFor(dataset: string, userSql: string) {
  const body = `SELECT * FROM "sluice_data"."main"."${dataset}"`;
  return {
    sql: `WITH "sluice$${dataset}" AS NOT MATERIALIZED (${body}) ${userSql}`,
    shaped: [{ name: `sluice$${dataset}`, dataset, sql: body }],
  };
}

export function poolOptions(fx: Fixture, extra: Partial<EnginePoolOptions> = {}) {
  return {
    dbPath: fx.dbPath,
    tempDir: fx.tempDir,
    exportDir: fx.exportDir,
    timeoutMs: 10_000,
    workers: 1,
    threads: 1,
    memoryLimit: '256MB',
    ...extra,
  } satisfies EnginePoolOptions;
}

/** Runs `fn` with a started pool and always closes it. */
export async function withPool<T>(
  options: EnginePoolOptions,
  fn: (pool: EnginePool) => Promise<T>,
): Promise<T> {
  const pool = await EnginePool.create(options);
  try {
    return await fn(pool);
  } finally {
    await pool.close();
  }
}
