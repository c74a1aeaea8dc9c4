import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DatasetEntry } from '../../datasets/catalog-types.ts';
import {
  DATASETS_FILE,
  DEMO_CITIZENS,
  type DemoData,
  ensureDemoData,
  GENERATOR_VERSION,
  ROW_GROUP_SIZE,
} from '../../datasets/seed.ts';
import { isSluiceError } from '../../gateway/errors.ts';

const SCALE = 0.01;
const TPCH = ['region', 'nation', 'supplier', 'customer', 'part', 'partsupp', 'orders', 'lineitem'];
const DEMO = ['citizens', 'hospital_visits', 'tax_records', 'flights', 'airports'];

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'sluice-datasets-'));
  dirs.push(dir);
  return dir;
}

/** Runs `fn` on a read-only connection to `dbPath`, always closing it. */
async function withDb<T>(
  dbPath: string,
  fn: (query: (sql: string) => Promise<Record<string, unknown>[]>) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  const conn = await instance.connect();
  try {
    return await fn(
      async (sql) => (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[],
    );
  } finally {
    conn.closeSync();
    instance.closeSync();
  }
}

/** Row count and a hash sum over every row and its storage position, for every table. */
async function checksums(dbPath: string): Promise<Record<string, string>> {
  return withDb(dbPath, async (query) => {
    const tables = await query(
      "SELECT table_name AS t FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY t",
    );
    const out: Record<string, string> = {};
    for (const { t } of tables) {
      const [sums] = await query(
        `SELECT count(*)::VARCHAR AS n, sum(hash(rowid, r))::VARCHAR AS h FROM main."${t}" r`,
      );
      out[String(t)] = JSON.stringify(sums);
    }
    return out;
  });
}

let dirA: string;
let dirB: string;
let first: DemoData;
let firstMs: number;

beforeAll(async () => {
  dirA = tempDir();
  dirB = tempDir();
  const started = performance.now();
  first = await ensureDemoData({ dataDir: dirA, tpchScale: SCALE });
  firstMs = performance.now() - started;
});

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function entry(id: string): DatasetEntry {
  const found = first.entries.find((e) => e.id === id);
  if (!found) throw new Error(`no entry ${id}`);
  return found;
}

describe('ensureDemoData', () => {
  it('generates the demo with TPC-H into <dataDir>/datasets.duckdb, well under a minute', () => {
    expect(first.dbPath).toBe(path.join(dirA, DATASETS_FILE));
    expect(first.entries.map((e) => e.id)).toEqual([...DEMO, ...TPCH]);
    expect(readdirSync(dirA)).toEqual([DATASETS_FILE]); // no temp file or WAL left behind
    expect(firstMs).toBeLessThan(30_000);
  });

  it('lists open types, publishers and row counts as the demo defines them', () => {
    expect(first.entries.map((e) => [e.id, e.openType, e.publisher])).toEqual([
      ['citizens', 'conditional', 'Civil Affairs Bureau'],
      ['hospital_visits', 'conditional', 'Health Commission'],
      ['tax_records', 'non-open', 'Tax Bureau'],
      ['flights', 'unconditional', 'U.S. Bureau of Transportation Statistics'],
      ['airports', 'unconditional', 'U.S. Bureau of Transportation Statistics'],
      ...TPCH.map((id) => [id, 'unconditional', 'Transaction Processing Performance Council']),
    ]);
    expect(entry('citizens').rowCount).toBe(100_000);
    expect(entry('hospital_visits').rowCount).toBe(200_000);
    expect(entry('flights').rowCount).toBe(3_000_000);
    expect(entry('airports').rowCount).toBe(3_376);
    expect(entry('supplier').rowCount).toBe(100);
    expect(entry('orders').rowCount).toBe(15_000);
    for (const e of first.entries) {
      expect(e.status).toBe('active');
      expect(e.version).toBe(1);
      expect(e.source.length).toBeGreaterThan(20);
      expect(e.conditions.length).toBeGreaterThan(0);
    }
    expect(entry('lineitem').source).toContain(`scale factor ${SCALE}`);
    expect(entry('flights').source).toContain('vega-datasets 3.2.1');
  });

  it('describes every stored column with its stored type, and counts stored rows', async () => {
    await withDb(first.dbPath, async (query) => {
      for (const e of first.entries) {
        const cols = await query(
          `SELECT column_name AS name, data_type AS type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = '${e.id}' ORDER BY column_index`,
        );
        expect(
          e.items.map((i) => ({ name: i.name, type: i.type })),
          e.id,
        ).toEqual(cols);
        const [{ n }] = (await query(`SELECT count(*)::INTEGER AS n FROM main."${e.id}"`)) as [
          { n: number },
        ];
        expect(e.rowCount, e.id).toBe(n);
      }
    });
  });

  it('records the generator and TPC-H scale in sluice_meta', async () => {
    const meta = await withDb(first.dbPath, (query) =>
      query('SELECT key, value FROM sluice_meta ORDER BY key'),
    );
    expect(Object.fromEntries(meta.map((m) => [m.key, m.value]))).toMatchObject({
      generator_version: GENERATOR_VERSION,
      tpch_scale: String(SCALE),
      vega_datasets_version: '3.2.1',
    });
  });

  it('stores tables in row groups of ROW_GROUP_SIZE rows, so zone maps skip finely', async () => {
    const [groups] = await withDb(first.dbPath, (query) =>
      query(
        "SELECT count(DISTINCT row_group_id)::INTEGER AS n, max(count)::INTEGER AS largest FROM pragma_storage_info('citizens') WHERE segment_type <> 'VALIDITY'",
      ),
    );
    expect(groups!.n).toBe(Math.ceil(DEMO_CITIZENS / ROW_GROUP_SIZE));
    expect(groups!.largest).toBeLessThanOrEqual(ROW_GROUP_SIZE);
  });

  it('re-opens an existing file without regenerating it, fast', async () => {
    const before = statSync(first.dbPath);
    const started = performance.now();
    const again = await ensureDemoData({ dataDir: dirA, tpchScale: SCALE });
    const elapsed = performance.now() - started;
    const after = statSync(first.dbPath);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(before.mtimeMs);
    expect(again).toEqual(first);
    expect(elapsed).toBeLessThan(2_000);
  });

  it('keeps the stored TPC-H tables when re-opened without a scale', async () => {
    const before = statSync(first.dbPath);
    const again = await ensureDemoData({ dataDir: dirA });
    expect(statSync(first.dbPath).ino).toBe(before.ino);
    expect(again.entries).toEqual(first.entries);
  });

  it('generates the same data in another directory (checksum of every table)', async () => {
    const second = await ensureDemoData({ dataDir: dirB, tpchScale: SCALE });
    const [a, b] = [await checksums(first.dbPath), await checksums(second.dbPath)];
    expect(Object.keys(a)).toEqual([...[...DEMO, ...TPCH, 'sluice_meta']].sort());
    expect(b).toEqual(a);
    expect(second.entries).toEqual(first.entries);
  });

  it('regenerates at a new TPC-H scale, replacing the file and clearing stale temp files', async () => {
    const stale = path.join(dirB, `.${DATASETS_FILE}.999999999.left-by-a-crash.tmp`);
    writeFileSync(stale, 'partial');
    const before = statSync(path.join(dirB, DATASETS_FILE));
    const rescaled = await ensureDemoData({ dataDir: dirB, tpchScale: 0.02 });
    expect(statSync(rescaled.dbPath).ino).not.toBe(before.ino);
    expect(rescaled.entries.find((e) => e.id === 'supplier')?.rowCount).toBe(200);
    expect(rescaled.entries.find((e) => e.id === 'part')?.title).toContain('0.02');
    expect(readdirSync(dirB)).toEqual([DATASETS_FILE]);
  });

  it('refuses a file it did not make, and a bad scale, with its own error codes', async () => {
    const dir = tempDir();
    const foreign = await DuckDBInstance.create(path.join(dir, DATASETS_FILE));
    const conn = await foreign.connect();
    await conn.run('CREATE TABLE something_else AS SELECT 1 AS x');
    conn.closeSync();
    foreign.closeSync();
    const codeOf = async (p: Promise<unknown>) =>
      p.then(
        () => 'resolved',
        (err) => (isSluiceError(err) ? err.code : String(err)),
      );
    expect(await codeOf(ensureDemoData({ dataDir: dir }))).toBe('INTERNAL');
    expect(await codeOf(ensureDemoData({ dataDir: dir, tpchScale: 0 }))).toBe('BAD_REQUEST');
  });
});
