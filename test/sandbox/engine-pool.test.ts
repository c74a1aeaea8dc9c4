import { readdir, readFile } from 'node:fs/promises';
import { DuckDBInstance } from '@duckdb/node-api';
import { type Data, tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EnginePool } from '../../sandbox/engine-pool.ts';
import { EnginePool as Pool } from '../../sandbox/engine-pool.ts';
import { createFixture, type Fixture, planFor, poolOptions, withPool } from './fixtures.ts';

let fx: Fixture;
let pool: EnginePool;

beforeAll(async () => {
  fx = await createFixture();
  pool = await Pool.create(poolOptions(fx, { workers: 2, testHooks: true }));
});

afterAll(async () => {
  await pool?.close();
  await fx?.cleanup();
});

const numbers = (maxRows: number, format: 'json' | 'arrow' = 'json') =>
  pool.query({
    plan: planFor('numbers', 'SELECT n FROM "sluice$numbers" ORDER BY n'),
    maxRows,
    format,
  });

/** Rejection code of a promise, or 'resolved'. */
async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'resolved';
  } catch (err) {
    return (err as { code?: string }).code ?? 'no code';
  }
}

const HEAVY = 'SELECT count(*) FROM "sluice$heavy" a, "sluice$heavy" b';

describe('value encoding', () => {
  const typesSql = 'SELECT * FROM "sluice$types" ORDER BY id';

  it('encodes every type JSON-safely', async () => {
    const r = await pool.query({ plan: planFor('types', typesSql), maxRows: 10, format: 'json' });
    const types = Object.fromEntries(r.columns.map((c) => [c.name, c.type]));
    expect(types).toMatchObject({
      dec: 'DECIMAL(15,2)',
      d: 'DATE',
      l: 'INTEGER[]',
      arr: 'DOUBLE[2]',
      m: 'MAP(VARCHAR, INTEGER)',
      tstz: 'TIMESTAMP WITH TIME ZONE',
    });
    const row = Object.fromEntries(r.columns.map((c, i) => [c.name, r.rows[0]![i]]));
    expect(row).toEqual({
      id: 1,
      b: true,
      i8: -7,
      i16: 300,
      i32: -70000,
      i64_safe: 9007199254740991,
      i64_big: '9007199254740993',
      u8: 255,
      u16: 65535,
      u32: 4294967295,
      u64: '18446744073709551615',
      i128: '170141183460469231731687303715884105727',
      i128_small: -5,
      u128: '340282366920938463463374607431768211455',
      f32: 0.1,
      f64: 0.1,
      f64_nan: 'NaN',
      f64_inf: 'Infinity',
      f32_ninf: '-Infinity',
      dec: 1234.5,
      dec_neg: -0.05,
      dec_wide: '12345678901234567.89',
      dec_scale: 1.1,
      s: 'héllo 世界',
      bl: Buffer.from([0xde, 0xad, 0xbe, 0xef]).toString('base64'),
      d: '2024-02-29',
      d_min: '0001-01-01',
      ts: '2024-01-02T03:04:05.123456',
      ts_neg: '1969-12-31T23:59:59.5',
      tstz: '2024-01-02T01:04:05.5Z',
      ts_s: '2024-01-02T03:04:05',
      ts_ms: '2024-01-02T03:04:05.123',
      ts_ns: '2024-01-02T03:04:05.123456789',
      t: '12:34:56.789',
      iv: 'P1Y2M3DT4H5M6.5S',
      iv_neg: 'P-1D',
      l: [1, 2, null],
      ll: [[1], [], null],
      arr: [1.5, 2.5],
      st: { x: 1, y: 'a' },
      m: [
        ['k1', 10],
        ['k2', 20],
      ],
      u: '6ba7b810-9dad-11d1-80b4-00c04fd430c8',
      e: 'b',
    });
    expect(r.rows[1]!.slice(1).every((v) => v === null)).toBe(true);
    expect(r.bytes).toBe(Buffer.byteLength(JSON.stringify(r.rows)));
  });

  it('returns the same columns as an Arrow IPC stream', async () => {
    const r = await pool.query({ plan: planFor('types', typesSql), maxRows: 10, format: 'arrow' });
    expect(r.rows).toEqual([]);
    expect(r.bytes).toBe(r.arrow!.byteLength);
    const table = tableFromIPC(r.arrow!);
    expect(table.numRows).toBe(2);
    expect(table.schema.fields.map((f) => f.name)).toEqual(r.columns.map((c) => c.name));
    const col = (name: string) => table.getChild(name)!;
    const raw = (name: string): Data => col(name).data[0]!;
    expect(col('id').get(0)).toBe(1);
    expect(col('b').get(0)).toBe(true);
    expect(col('i64_big').get(0)).toBe(9007199254740993n);
    expect(col('u64').get(0)).toBe(18446744073709551615n);
    expect(col('i128').get(0)).toBe('170141183460469231731687303715884105727');
    expect(col('f32').get(0)).toBe(Math.fround(0.1));
    expect(Number.isNaN(col('f64_nan').get(0))).toBe(true);
    expect(col('f64_inf').get(0)).toBe(Number.POSITIVE_INFINITY);
    // Decimal128: four little-endian 32-bit words of the unscaled value.
    const unscaled = (name: string) => {
      const w = raw(name).values as Uint32Array;
      let v = 0n;
      for (let k = 3; k >= 0; k--) v = (v << 32n) | BigInt(w[k]!);
      return BigInt.asIntN(128, v);
    };
    expect(String(col('dec').type)).toBe('Decimal[15e+2]');
    expect(unscaled('dec')).toBe(123450n);
    expect(unscaled('dec_neg')).toBe(-5n);
    expect(unscaled('dec_wide')).toBe(1234567890123456789n);
    expect(col('s').get(0)).toBe('héllo 世界');
    expect(Buffer.from(col('bl').get(0) as Uint8Array).toString('hex')).toBe('deadbeef');
    expect((raw('d').values as Int32Array)[0]).toBe(19782);
    expect((raw('ts').values as BigInt64Array)[0]).toBe(1704164645123456n);
    expect((raw('ts_neg').values as BigInt64Array)[0]).toBe(-500000n);
    expect((raw('tstz').values as BigInt64Array)[0]).toBe(1704157445500000n);
    expect(String(col('tstz').type)).toBe('Timestamp<MICROSECOND, UTC>');
    expect((raw('ts_ns').values as BigInt64Array)[0]).toBe(1704164645123456789n);
    expect((raw('t').values as BigInt64Array)[0]).toBe(45296789000n);
    expect(Array.from(col('iv').get(0) as Int32Array)).toEqual([14, 3, 531978496, 3424]);
    expect(Array.from(col('l').get(0)!)).toEqual([1, 2, null]);
    expect(Array.from(col('arr').get(0)!)).toEqual([1.5, 2.5]);
    expect(col('st').get(0)!.toJSON()).toEqual({ x: 1, y: 'a' });
    expect(col('m').get(0)!.toJSON()).toEqual({ k1: 10, k2: 20 });
    expect(col('u').get(0)).toBe('6ba7b810-9dad-11d1-80b4-00c04fd430c8');
    for (const f of table.schema.fields) {
      if (f.name !== 'id') expect(col(f.name).get(1)).toBeNull();
    }
  });
});

describe('row cap', () => {
  it('5,000 rows, cap 1,000: exactly 1,000 and truncated', async () => {
    const r = await numbers(1000);
    expect(r.rowCount).toBe(1000);
    expect(r.rows.length).toBe(1000);
    expect(r.rows[999]).toEqual([999]);
    expect(r.truncated).toBe(true);
    // Reading stops after the first chunk that crosses the cap.
    expect(r.timings.rowsRead).toBe(2048);
  });

  it('boundaries at the 2,048-row chunk size', async () => {
    for (const [cap, rows, truncated] of [
      [2047, 2047, true],
      [2048, 2048, true],
      [2049, 2049, true],
      [4999, 4999, true],
      [5000, 5000, false],
      [6000, 5000, false],
      [0, 0, true],
    ] as const) {
      const r = await numbers(cap);
      expect([cap, r.rowCount, r.rows.length, r.truncated]).toEqual([cap, rows, rows, truncated]);
      if (rows > 0) expect(r.rows[rows - 1]).toEqual([rows - 1]);
    }
  });

  it('applies the same cap to Arrow', async () => {
    const r = await numbers(2049, 'arrow');
    expect(r.rowCount).toBe(2049);
    expect(r.truncated).toBe(true);
    expect(tableFromIPC(r.arrow!).numRows).toBe(2049);
    const empty = await pool.query({
      plan: planFor('numbers', 'SELECT n FROM "sluice$numbers" WHERE n < 0'),
      maxRows: 10,
      format: 'arrow',
    });
    expect(empty.rowCount).toBe(0);
    expect(empty.truncated).toBe(false);
    expect(tableFromIPC(empty.arrow!).schema.fields.map((f) => f.name)).toEqual(['n']);
  });
});

describe('results the plan bounds', () => {
  const bounded = (limit: number, maxRows: number, format: 'json' | 'arrow' = 'json') =>
    pool.query({
      plan: {
        ...planFor('numbers', `SELECT n FROM "sluice$numbers" ORDER BY n LIMIT ${limit}`),
        rowBound: limit,
      },
      maxRows,
      format,
    });

  it('reads a bounded result whole, with the same rows, cap and truncation as a stream', async () => {
    for (const [limit, maxRows] of [
      [1, 1],
      [2049, 2048],
      [4097, 4096],
      [5000, 4999],
      [6001, 6000],
      [10, 3],
      [10, 0],
    ] as const) {
      const whole = await bounded(limit, maxRows);
      const streamed = await pool.query({
        plan: planFor('numbers', `SELECT n FROM "sluice$numbers" ORDER BY n LIMIT ${limit}`),
        maxRows,
        format: 'json',
      });
      expect(whole.timings.resultRead).toBe('whole');
      expect(streamed.timings.resultRead).toBe('streamed');
      expect([whole.rowCount, whole.truncated, whole.rowsJson]).toEqual([
        streamed.rowCount,
        streamed.truncated,
        streamed.rowsJson,
      ]);
      const rows = Math.min(limit, 5000, maxRows);
      expect([whole.rowCount, whole.truncated]).toEqual([rows, Math.min(limit, 5000) > maxRows]);
    }
    const arrow = await bounded(3000, 2999, 'arrow');
    expect(arrow.timings.resultRead).toBe('whole');
    expect([arrow.rowCount, arrow.truncated]).toEqual([2999, true]);
    expect(tableFromIPC(arrow.arrow!).getChild('n')!.toArray().at(-1)).toBe(2998n);
  });

  it('streams when the bound is large, so reading stops at the cap', async () => {
    const r = await bounded(1_000_000, 1000);
    expect(r.timings.resultRead).toBe('streamed');
    expect([r.rowCount, r.truncated, r.timings.rowsRead]).toEqual([1000, true, 2048]);
  });

  it('interrupts a bounded query that runs too long', async () => {
    await withPool(poolOptions(fx), async (p) => {
      const err = await p
        .query({
          plan: { ...planFor('heavy', HEAVY), rowBound: 1 },
          maxRows: 1,
          format: 'json',
          timeoutMs: 300,
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TIMEOUT' });
      const ok = await p.query({
        plan: { ...planFor('numbers', 'SELECT count(*) FROM "sluice$numbers"'), rowBound: 1 },
        maxRows: 1,
        format: 'json',
      });
      expect(ok.rows).toEqual([[5000]]);
      expect(ok.timings.resultRead).toBe('whole');
    });
  });
});

describe('second check and errors through the pool', () => {
  it('always runs the second check: a bypass is denied and nothing comes back', async () => {
    for (const user of [
      'SELECT phone FROM sluice_data.main.citizens',
      "SELECT * FROM read_csv('/etc/passwd')",
      'SELECT * FROM "sluice$citizens", duckdb_tables',
      'SELECT 1; SELECT phone FROM sluice_data.main.citizens',
    ]) {
      const err = await pool
        .query({ plan: planFor('citizens', user), maxRows: 10, format: 'json' })
        .catch((e: unknown) => e as Error & { code: string });
      expect(err).toMatchObject({ code: 'POLICY_DENIED' });
      expect((err as Error).message).not.toMatch(/13800000|passwd/);
    }
    const tampered = planFor('citizens', 'SELECT phone FROM "sluice$citizens"');
    const declared = { ...tampered, shaped: [{ ...tampered.shaped[0]!, sql: 'SELECT 1 AS id' }] };
    expect(await codeOf(pool.query({ plan: declared, maxRows: 10, format: 'json' }))).toBe(
      'POLICY_DENIED',
    );
  });

  it('wraps DuckDB errors without their text', async () => {
    const err = (await pool
      .query({
        plan: planFor('citizens', 'SELECT CAST(phone AS INTEGER) + 1 FROM "sluice$citizens"'),
        maxRows: 10,
        format: 'json',
      })
      .catch((e: unknown) => e)) as Error & { code: string };
    expect(err.code).toBe('QUERY_ERROR');
    expect(err.message).toBe(
      'Conversion Error: a value could not be converted to the requested type',
    );
    const binder = (await pool
      .query({
        plan: planFor('citizens', 'SELECT no_such_column FROM "sluice$citizens"'),
        maxRows: 10,
        format: 'json',
      })
      .catch((e: unknown) => e)) as Error & { code: string };
    expect(binder.code).toBe('QUERY_ERROR');
    expect(binder.message).not.toMatch(/no_such_column|phone/);
  });

  it('rejects malformed requests', async () => {
    const plan = planFor('numbers', 'SELECT 1');
    expect(await codeOf(pool.query({ plan, maxRows: -1, format: 'json' }))).toBe('BAD_REQUEST');
    expect(await codeOf(pool.query({ plan, maxRows: 1, format: 'csv' as 'json' }))).toBe(
      'BAD_REQUEST',
    );
    for (const rowBound of [-1, 1.5, Number.NaN, 2 ** 60]) {
      expect(
        await codeOf(pool.query({ plan: { ...plan, rowBound }, maxRows: 1, format: 'json' })),
      ).toBe('BAD_REQUEST');
    }
  });

  it('echoes a valid traceparent with the stage timings', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await pool.query({
      plan: planFor('numbers', 'SELECT count(*) FROM "sluice$numbers"'),
      maxRows: 1,
      format: 'json',
      traceparent,
    });
    expect(r.rows).toEqual([[5000]]);
    expect(r.timings.traceparent).toBe(traceparent);
    expect(r.timings.secondCheckMs).toBeGreaterThan(0);
    expect(r.timings.executeMs).toBeGreaterThan(0);
    expect(r.timings.rowsRead).toBe(1);
    expect(r.durationMs).toBeGreaterThanOrEqual(r.timings.executeMs);
    const bad = await pool.query({
      plan: planFor('numbers', 'SELECT 1 FROM "sluice$numbers" LIMIT 1'),
      maxRows: 1,
      format: 'json',
      traceparent: 'garbage',
    });
    expect(bad.timings.traceparent).toBeUndefined();
  });
});

describe('hardening', () => {
  it('reports the verified settings', () => {
    const s = pool.verifiedSettings();
    expect(s.enable_external_access).toBe('false');
    expect(s.lock_configuration).toBe('true');
    expect(s.autoload_known_extensions).toBe('false');
    expect(s.autoinstall_known_extensions).toBe('false');
    expect(s.allow_community_extensions).toBe('false');
    expect(s.allow_unsigned_extensions).toBe('false');
    expect(s.threads).toBe('1');
    expect(s.allowed_directories).toContain(fx.exportDir);
  });

  it('refuses configuration changes, extensions, files and attaches on the raw connection', async () => {
    const attempts = [
      'SET enable_external_access = true',
      'SET lock_configuration = false',
      'RESET lock_configuration',
      "SET allowed_directories = ['/']",
      'SET threads = 8',
      'INSTALL httpfs',
      'LOAD httpfs',
      `ATTACH '${fx.dir}/other.duckdb' AS other`,
      `COPY (SELECT 1) TO '${fx.dir}/outside.csv'`,
      `COPY (SELECT 1) TO '${fx.exportDir}/../escape.csv'`,
      "SELECT * FROM read_csv('/etc/passwd')",
      "SELECT * FROM read_text('/etc/hostname')",
      "SELECT * FROM glob('/etc/*')",
      'CREATE TABLE sluice_data.main.x AS SELECT 1',
    ];
    for (const sql of attempts) {
      const code = await codeOf(pool.unsafeTestHook({ op: 'raw', sql }));
      expect([sql, code]).not.toEqual([sql, 'resolved']);
    }
    expect(await readdir(fx.dir)).not.toContain('outside.csv');
    // The connection still works and the data catalog is read-only.
    expect(await pool.unsafeTestHook({ op: 'raw', sql: 'SELECT 42' })).toEqual([[42]]);
    expect(
      await pool.unsafeTestHook({
        op: 'raw',
        sql: "SELECT readonly FROM duckdb_databases() WHERE database_name = 'sluice_data'",
      }),
    ).toEqual([[true]]);
  });

  it('has test hooks off unless asked', async () => {
    await withPool(poolOptions(fx), async (p) => {
      expect(await codeOf(p.unsafeTestHook({ op: 'raw', sql: 'SELECT 1' }))).toBe('FORBIDDEN');
    });
  });

  it('fails to start when the dataset file is missing', async () => {
    const err = await Pool.create(poolOptions(fx, { dbPath: `${fx.dir}/missing.duckdb` })).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: 'ENGINE_UNAVAILABLE' });
  });
});

describe('exports', () => {
  it('writes each format into the export directory and cleans up', async () => {
    const reader = await DuckDBInstance.create(':memory:');
    const conn = await reader.connect();
    try {
      for (const format of ['csv', 'parquet', 'json', 'arrow'] as const) {
        const file = await pool.exportTable('citizens', format);
        expect(file.rows).toBe(100);
        expect(file.path.startsWith(`${fx.exportDir}/`)).toBe(true);
        expect(file.path.endsWith(`.${format}`)).toBe(true);
        const bytes = await readFile(file.path);
        expect(bytes.length).toBe(file.bytes);
        if (format === 'arrow') {
          const t = tableFromIPC(bytes);
          expect(t.numRows).toBe(100);
          expect(t.getChild('phone')!.get(7)).toBe('13800000007');
        } else {
          const fn = { csv: 'read_csv', parquet: 'read_parquet', json: 'read_json' }[format];
          const rows = (
            await conn.runAndReadAll(
              `SELECT count(*), sum(id), max(phone) FROM ${fn}('${file.path}')`,
            )
          ).getRowsJson();
          expect(rows).toEqual([['100', '4950', '13800000099']]);
        }
        await file.cleanup();
      }
    } finally {
      conn.closeSync();
      reader.closeSync();
    }
    expect(await readdir(fx.exportDir)).toEqual([]);
  });

  it('exports the type-rich table as Arrow and CSV', async () => {
    const arrow = await pool.exportTable('types', 'arrow');
    expect(tableFromIPC(await readFile(arrow.path)).numRows).toBe(2);
    await arrow.cleanup();
    const csv = await pool.exportTable('types', 'csv');
    expect(csv.rows).toBe(2);
    await csv.cleanup();
  });

  it('refuses bad or unknown dataset ids', async () => {
    expect(await codeOf(pool.exportTable('../etc', 'csv'))).toBe('BAD_REQUEST');
    expect(await codeOf(pool.exportTable('Citizens', 'csv'))).toBe('BAD_REQUEST');
    expect(await codeOf(pool.exportTable('no_such_table', 'csv'))).toBe('NOT_FOUND');
    expect(await codeOf(pool.exportTable('citizens', 'xlsx' as 'csv'))).toBe('BAD_REQUEST');
  });
});

describe('time limits, crashes and the queue', () => {
  it('times out with interrupt, and the same worker serves the next query', async () => {
    await withPool(poolOptions(fx), async (p) => {
      const pid = p.stats().workers[0]!.pid;
      const started = performance.now();
      const err = await p
        .query({ plan: planFor('heavy', HEAVY), maxRows: 1, format: 'json', timeoutMs: 300 })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'TIMEOUT' });
      expect(performance.now() - started).toBeLessThan(2_000);
      const ok = await p.query({
        plan: planFor('numbers', 'SELECT count(*) FROM "sluice$numbers"'),
        maxRows: 1,
        format: 'json',
      });
      expect(ok.rows).toEqual([[5000]]);
      expect(p.stats().workers[0]!.pid).toBe(pid);
      expect(p.stats().restarts).toBe(0);
    });
  });

  it('kills and replaces a worker that does not answer within the grace period', async () => {
    await withPool(poolOptions(fx, { testHooks: true, graceMs: 200 }), async (p) => {
      const pid = p.stats().workers[0]!.pid;
      const code = await codeOf(p.unsafeTestHook({ op: 'block', ms: 5_000 }, 200));
      expect(code).toBe('TIMEOUT');
      const ok = await p.query({
        plan: planFor('numbers', 'SELECT count(*) FROM "sluice$numbers"'),
        maxRows: 1,
        format: 'json',
      });
      expect(ok.rows).toEqual([[5000]]);
      expect(p.stats().workers[0]!.pid).not.toBe(pid);
      expect(p.stats().restarts).toBe(1);
    });
  });

  it('answers ENGINE_UNAVAILABLE when a worker is killed mid-query, then recovers', async () => {
    await withPool(poolOptions(fx, { testHooks: true }), async (p) => {
      const pid = p.stats().workers[0]!.pid!;
      const running = p.query({ plan: planFor('heavy', HEAVY), maxRows: 1, format: 'json' });
      await new Promise((r) => setTimeout(r, 200));
      process.kill(pid, 'SIGKILL');
      expect(await codeOf(running)).toBe('ENGINE_UNAVAILABLE');
      const ok = await p.query({
        plan: planFor('numbers', 'SELECT max(n) FROM "sluice$numbers"'),
        maxRows: 1,
        format: 'json',
      });
      expect(ok.rows).toEqual([[4999]]);
      // A worker that aborts (SIGABRT) is replaced the same way.
      expect(await codeOf(p.unsafeTestHook({ op: 'abort' }))).toBe('ENGINE_UNAVAILABLE');
      expect(
        (await p.query({ plan: planFor('numbers', 'SELECT 1'), maxRows: 1, format: 'json' })).rows,
      ).toEqual([[1]]);
      expect(p.stats().restarts).toBe(2);
      expect(p.stats().workers[0]!.state).toBe('idle');
    });
  });

  it('turns the memory limit into LIMIT_EXCEEDED, not a crash', async () => {
    await withPool(poolOptions(fx, { memoryLimit: '64MB' }), async (p) => {
      const pid = p.stats().workers[0]!.pid;
      const err = await p
        .query({
          plan: planFor('heavy', "SELECT string_agg(repeat('x', 2000), ',') FROM \"sluice$heavy\""),
          maxRows: 1,
          format: 'json',
        })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'LIMIT_EXCEEDED' });
      const ok = await p.query({
        plan: planFor('numbers', 'SELECT 2'),
        maxRows: 1,
        format: 'json',
      });
      expect(ok.rows).toEqual([[2]]);
      expect(p.stats().workers[0]!.pid).toBe(pid);
    });
  });

  it('gives a lone query to the solo worker, and concurrent ones to the regular workers', async () => {
    await withPool(poolOptions(fx, { soloThreads: 2, testHooks: true }), async (p) => {
      const served = () => p.stats().workers.map((w) => w.served);
      expect(p.stats().workers.map((w) => [w.threads, w.solo])).toEqual([
        [1, false],
        [2, true],
      ]);
      const settingOf = async () =>
        (await p.unsafeTestHook({
          op: 'raw',
          sql: "SELECT current_setting('threads')",
        })) as unknown[][];
      // Alone: the solo worker, with its own thread count.
      expect(await settingOf()).toEqual([['2']]);
      const lone = await p.query({
        plan: planFor('numbers', 'SELECT 1'),
        maxRows: 1,
        format: 'json',
      });
      expect(lone.rows).toEqual([[1]]);
      expect(served()).toEqual([0, 2]);
      // While a query runs on the solo worker, the next goes to a regular one; a third waits.
      const slow = p.query({
        plan: planFor('heavy', HEAVY),
        maxRows: 1,
        format: 'json',
        timeoutMs: 400,
      });
      const second = p.query({ plan: planFor('numbers', 'SELECT 2'), maxRows: 1, format: 'json' });
      expect((await second).rows).toEqual([[2]]);
      expect(served()).toEqual([1, 2]);
      expect(await codeOf(slow)).toBe('TIMEOUT');
    });
  });

  it('queues FIFO up to the bound and refuses beyond it', async () => {
    await withPool(poolOptions(fx, { queueLimit: 1 }), async (p) => {
      const slow = p.query({
        plan: planFor('heavy', HEAVY),
        maxRows: 1,
        format: 'json',
        timeoutMs: 500,
      });
      const queued = p.query({
        plan: planFor('numbers', 'SELECT count(*) FROM "sluice$numbers"'),
        maxRows: 1,
        format: 'json',
      });
      expect(p.stats().queued).toBe(1);
      const refused = p.query({ plan: planFor('numbers', 'SELECT 1'), maxRows: 1, format: 'json' });
      expect(await codeOf(refused)).toBe('LIMIT_EXCEEDED');
      expect(await codeOf(slow)).toBe('TIMEOUT');
      const r = await queued;
      expect(r.rows).toEqual([[5000]]);
      expect(r.timings.queueMs).toBeGreaterThan(300);
    });
  });

  it('times out a request whose budget runs out while queued', async () => {
    await withPool(poolOptions(fx), async (p) => {
      const slow = p.query({
        plan: planFor('heavy', HEAVY),
        maxRows: 1,
        format: 'json',
        timeoutMs: 600,
      });
      const waiting = p.query({
        plan: planFor('numbers', 'SELECT 1'),
        maxRows: 1,
        format: 'json',
        timeoutMs: 100,
      });
      expect(await codeOf(waiting)).toBe('TIMEOUT');
      expect(await codeOf(slow)).toBe('TIMEOUT');
    });
  });

  it('fails queued and new requests with ENGINE_UNAVAILABLE after close', async () => {
    const p = await Pool.create(poolOptions(fx));
    const running = codeOf(p.query({ plan: planFor('heavy', HEAVY), maxRows: 1, format: 'json' }));
    const queued = codeOf(
      p.query({ plan: planFor('numbers', 'SELECT 1'), maxRows: 1, format: 'json' }),
    );
    await p.close();
    expect(await running).toBe('ENGINE_UNAVAILABLE');
    expect(await queued).toBe('ENGINE_UNAVAILABLE');
    expect(
      await codeOf(p.query({ plan: planFor('numbers', 'SELECT 1'), maxRows: 1, format: 'json' })),
    ).toBe('ENGINE_UNAVAILABLE');
    expect(p.stats().workers.every((w) => w.pid === null)).toBe(true);
  });
});
