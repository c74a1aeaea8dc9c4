import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  checkTpchScale,
  generateTpch,
  NATIONS,
  PRIORITIES,
  REGIONS,
  SEGMENTS,
  SHIP_INSTRUCTIONS,
  SHIP_MODES,
  TPCH_TABLES,
} from '../../datasets/tpch.ts';
import { isSluiceError } from '../../gateway/errors.ts';

const SCALE = 0.01;
const QUERY_DIR = '/work/shared/fixtures/tpch-queries';

let instance: DuckDBInstance;
let conn: DuckDBConnection;

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}
async function one(sql: string): Promise<Record<string, unknown>> {
  return (await rows(sql))[0]!;
}
async function distinct(table: string, column: string): Promise<string[]> {
  return (await rows(`SELECT DISTINCT ${column} AS v FROM ${table} ORDER BY v`)).map((r) =>
    String(r.v),
  );
}

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await generateTpch(conn, SCALE);
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

describe('checkTpchScale', () => {
  it.each([0, -1, 0.001, 0.015, 1000, Number.NaN])('rejects %s with BAD_REQUEST', (scale) => {
    let caught: unknown;
    try {
      checkTpchScale(scale);
    } catch (err) {
      caught = err;
    }
    expect(isSluiceError(caught) && caught.code).toBe('BAD_REQUEST');
  });

  it.each([0.01, 0.02, 0.05, 0.1, 1, 10, 100])('accepts %s', (scale) => {
    expect(() => checkTpchScale(scale)).not.toThrow();
  });
});

describe(`generateTpch at SF ${SCALE}`, () => {
  it('makes the spec cardinalities', async () => {
    const counts = await one(`SELECT
      (SELECT count(*) FROM region)::INTEGER AS region, (SELECT count(*) FROM nation)::INTEGER AS nation,
      (SELECT count(*) FROM supplier)::INTEGER AS supplier, (SELECT count(*) FROM customer)::INTEGER AS customer,
      (SELECT count(*) FROM part)::INTEGER AS part, (SELECT count(*) FROM partsupp)::INTEGER AS partsupp,
      (SELECT count(*) FROM orders)::INTEGER AS orders, (SELECT count(*) FROM lineitem)::INTEGER AS lineitem`);
    expect(counts).toMatchObject({
      region: 5,
      nation: 25,
      supplier: 100,
      customer: 1_500,
      part: 2_000,
      partsupp: 8_000,
      orders: 15_000,
    });
    // 1–7 lines per order, 4 on average.
    expect(counts.lineitem as number).toBeGreaterThan(55_000);
    expect(counts.lineitem as number).toBeLessThan(65_000);
    const perOrder = await one(
      'SELECT min(n)::INTEGER AS lo, max(n)::INTEGER AS hi, bool_and(ok) AS ok FROM (SELECT count(*) AS n, max(l_linenumber) = count(*) AS ok FROM lineitem GROUP BY l_orderkey)',
    );
    expect(perOrder).toEqual({ lo: 1, hi: 7, ok: true });
  });

  it('uses the spec column types', async () => {
    const types = await rows(
      "SELECT table_name || '.' || column_name AS c, data_type AS t FROM duckdb_columns() WHERE schema_name = 'main' AND column_name IN ('l_orderkey', 'o_orderkey', 'l_partkey', 'l_extendedprice', 'o_totalprice', 'ps_supplycost', 'l_shipdate', 'o_orderdate', 'l_returnflag', 'p_size') ORDER BY c",
    );
    expect(Object.fromEntries(types.map((r) => [r.c, r.t]))).toEqual({
      'lineitem.l_extendedprice': 'DECIMAL(15,2)',
      'lineitem.l_orderkey': 'BIGINT',
      'lineitem.l_partkey': 'INTEGER',
      'lineitem.l_returnflag': 'VARCHAR',
      'lineitem.l_shipdate': 'DATE',
      'orders.o_orderdate': 'DATE',
      'orders.o_orderkey': 'BIGINT',
      'orders.o_totalprice': 'DECIMAL(15,2)',
      'part.p_size': 'INTEGER',
      'partsupp.ps_supplycost': 'DECIMAL(15,2)',
    });
  });

  it('names the 5 regions and 25 nations of the spec', async () => {
    expect(await distinct('region', 'r_name')).toEqual([...REGIONS].sort());
    const nations = await rows(
      'SELECT n_nationkey AS k, n_name AS name, r_name AS region FROM nation JOIN region ON r_regionkey = n_regionkey ORDER BY k',
    );
    expect(nations.map((n) => [n.name, REGIONS.indexOf(n.region as never)])).toEqual(NATIONS);
  });

  it('draws part attributes from the spec domains', async () => {
    const bad = await one(`SELECT
      count(*) FILTER (WHERE NOT regexp_full_match(p_type, '(STANDARD|SMALL|MEDIUM|LARGE|ECONOMY|PROMO) (ANODIZED|BURNISHED|PLATED|POLISHED|BRUSHED) (TIN|NICKEL|BRASS|STEEL|COPPER)'))::INTEGER AS type,
      count(*) FILTER (WHERE NOT regexp_full_match(p_container, '(SM|LG|MED|JUMBO|WRAP) (CASE|BOX|BAG|JAR|PKG|PACK|CAN|DRUM)'))::INTEGER AS container,
      count(*) FILTER (WHERE NOT regexp_full_match(p_brand, 'Brand#[1-5][1-5]') OR p_mfgr <> 'Manufacturer#' || p_brand[7])::INTEGER AS brand,
      count(*) FILTER (WHERE len(list_distinct(string_split(p_name, ' '))) <> 5)::INTEGER AS name,
      count(*) FILTER (WHERE p_size NOT BETWEEN 1 AND 50)::INTEGER AS size
      FROM part`);
    expect(bad).toEqual({ type: 0, container: 0, brand: 0, name: 0, size: 0 });
    const variety = await one(
      'SELECT count(DISTINCT p_type)::INTEGER AS types, count(DISTINCT p_container)::INTEGER AS containers, count(DISTINCT p_brand)::INTEGER AS brands FROM part',
    );
    expect(variety).toEqual({ types: 150, containers: 40, brands: 25 });
  });

  it('draws customer, order and line attributes from the spec domains', async () => {
    expect(await distinct('customer', 'c_mktsegment')).toEqual([...SEGMENTS].sort());
    expect(await distinct('orders', 'o_orderpriority')).toEqual([...PRIORITIES].sort());
    expect(await distinct('lineitem', 'l_shipinstruct')).toEqual([...SHIP_INSTRUCTIONS].sort());
    expect(await distinct('lineitem', 'l_shipmode')).toEqual([...SHIP_MODES].sort());
    const phones = await one(`SELECT
      count(*) FILTER (WHERE NOT regexp_full_match(c_phone, '[0-9]{2}-[0-9]{3}-[0-9]{3}-[0-9]{4}') OR c_phone[1:2]::INTEGER <> c_nationkey + 10)::INTEGER AS customer,
      (SELECT count(*) FILTER (WHERE s_phone[1:2]::INTEGER <> s_nationkey + 10) FROM supplier)::INTEGER AS supplier
      FROM customer`);
    expect(phones).toEqual({ customer: 0, supplier: 0 });
  });

  it('derives dates, flags, status and totals as the spec says', async () => {
    const bad = await one(`SELECT
      count(*) FILTER (WHERE o_orderdate NOT BETWEEN DATE '1992-01-01' AND DATE '1998-08-02')::INTEGER AS orderdate,
      count(*) FILTER (WHERE l_shipdate - o_orderdate NOT BETWEEN 1 AND 121)::INTEGER AS shipdate,
      count(*) FILTER (WHERE l_commitdate - o_orderdate NOT BETWEEN 30 AND 90)::INTEGER AS commitdate,
      count(*) FILTER (WHERE l_receiptdate - l_shipdate NOT BETWEEN 1 AND 30)::INTEGER AS receiptdate,
      count(*) FILTER (WHERE (l_receiptdate <= DATE '1995-06-17') <> (l_returnflag IN ('R', 'A')))::INTEGER AS returnflag,
      count(*) FILTER (WHERE (l_shipdate > DATE '1995-06-17') <> (l_linestatus = 'O'))::INTEGER AS linestatus,
      count(*) FILTER (WHERE l_discount NOT BETWEEN 0 AND 0.10 OR l_tax NOT BETWEEN 0 AND 0.08 OR l_quantity NOT BETWEEN 1 AND 50)::INTEGER AS ranges
      FROM lineitem JOIN orders ON o_orderkey = l_orderkey`);
    expect(bad).toEqual({
      orderdate: 0,
      shipdate: 0,
      commitdate: 0,
      receiptdate: 0,
      returnflag: 0,
      linestatus: 0,
      ranges: 0,
    });
    const orders = await one(`SELECT
      count(*) FILTER (WHERE o_orderstatus <> CASE WHEN f = n THEN 'F' WHEN f = 0 THEN 'O' ELSE 'P' END)::INTEGER AS status,
      count(*) FILTER (WHERE abs(o_totalprice - total) > 0.01)::INTEGER AS total,
      count(*) FILTER (WHERE o_custkey % 3 = 0)::INTEGER AS third,
      list_sort(list(DISTINCT o_orderstatus)) AS statuses
      FROM orders JOIN (SELECT l_orderkey, count(*) AS n, count(*) FILTER (WHERE l_linestatus = 'F') AS f,
        sum(l_extendedprice * (1 + l_tax) * (1 - l_discount)) AS total FROM lineitem GROUP BY l_orderkey) ON l_orderkey = o_orderkey`);
    expect(orders).toEqual({ status: 0, total: 0, third: 0, statuses: ['F', 'O', 'P'] });
  });

  it('keeps keys consistent: sparse order keys, every line item a partsupp', async () => {
    const r = await one(`SELECT
      (SELECT count(*) FILTER (WHERE o_orderkey % 32 NOT BETWEEN 0 AND 7) FROM orders)::INTEGER AS sparse,
      (SELECT count(*) FROM lineitem ANTI JOIN partsupp ON ps_partkey = l_partkey AND ps_suppkey = l_suppkey)::INTEGER AS orphan_lines,
      (SELECT count(*) - count(DISTINCT (ps_partkey, ps_suppkey)) FROM partsupp)::INTEGER AS duplicate_partsupp,
      (SELECT count(*) FROM lineitem ANTI JOIN orders ON o_orderkey = l_orderkey)::INTEGER AS orphan_orders`);
    expect(r).toEqual({ sparse: 0, orphan_lines: 0, duplicate_partsupp: 0, orphan_orders: 0 });
  });

  it('puts the phrases the queries look for into comments', async () => {
    const r = await one(`SELECT
      (SELECT count(*) FROM supplier WHERE s_comment LIKE '%Customer%Complaints%')::INTEGER AS complaints,
      (SELECT count(*) FROM supplier WHERE s_comment LIKE '%Customer%Recommends%')::INTEGER AS recommends,
      (SELECT count(*) FROM orders WHERE o_comment LIKE '%special%requests%')::INTEGER AS special,
      (SELECT count(*) FROM supplier WHERE length(s_comment) NOT BETWEEN 25 AND 100)::INTEGER AS bad_length`);
    expect(r.complaints).toBeGreaterThan(0);
    expect(r.recommends).toBeGreaterThan(0);
    expect(r.special as number).toBeGreaterThan(10);
    expect(r.bad_length).toBe(0);
  });

  it('is deterministic: a single-threaded generation stores the same rows in the same order', async () => {
    const other = await DuckDBInstance.create(':memory:', { threads: '1' });
    const otherConn = await other.connect();
    try {
      await generateTpch(otherConn, SCALE);
      for (const table of TPCH_TABLES) {
        // rowid (storage position) in the hash: equal sums mean equal rows in equal order.
        const sql = `SELECT count(*)::VARCHAR AS n, sum(hash(rowid, t))::VARCHAR AS h FROM ${table} t`;
        const mine = (await conn.runAndReadAll(sql)).getRowObjectsJS();
        const theirs = (await otherConn.runAndReadAll(sql)).getRowObjectsJS();
        expect(theirs, table).toEqual(mine);
      }
    } finally {
      otherConn.closeSync();
      other.closeSync();
    }
  });

  const queries = readdirSync(QUERY_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort();

  it('has all 22 TPC-H queries to run', () => {
    expect(queries).toHaveLength(22);
  });

  it.each(queries)('answers %s with at least one row that is not all NULL', async (file) => {
    const sql = readFileSync(path.join(QUERY_DIR, file), 'utf8');
    const result = (await conn.runAndReadAll(sql)).getRows();
    expect(result.length).toBeGreaterThan(0);
    expect(result[0]!.some((v) => v !== null)).toBe(true);
  });
});
