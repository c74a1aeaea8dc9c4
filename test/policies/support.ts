/**
 * Shared set-up for the policy tests: the demo scopes (Alice under her agreement, Bob with none,
 * everything-allowed TPC-H), an in-process DuckDB with the data catalog attached, and a tiny
 * citizens table whose every sensitive value is known, so answers can be searched for leaks.
 */

import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { compileScope, loadPolicyDocument } from '../../policies/policy-document.ts';
import type { Scope } from '../../policies/policy-types.ts';

export const DATA_CATALOG = 'sluice_data';
export const HASH_SECRET = '5ec2e7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d';

type Columns = { name: string; type: string }[];
const cols = (spec: string): Columns =>
  spec.split(/,(?![^(]*\))/).map((c) => {
    const [name, ...type] = c.trim().split(/\s+/);
    return { name: name!, type: type.join(' ') };
  });

export const CITIZENS_COLUMNS = cols(
  'id INTEGER, name VARCHAR, id_card VARCHAR, phone VARCHAR, gender VARCHAR, birth_date DATE, district VARCHAR, income DOUBLE',
);
const HOSPITAL_COLUMNS = cols(
  'visit_id INTEGER, citizen_id INTEGER, visit_date DATE, hospital VARCHAR, diagnosis VARCHAR, cost DOUBLE',
);
const AIRPORTS_COLUMNS = cols(
  'iata VARCHAR, name VARCHAR, city VARCHAR, state VARCHAR, country VARCHAR, latitude DOUBLE, longitude DOUBLE',
);
const FLIGHTS_COLUMNS = cols(
  'date TIMESTAMP, delay INTEGER, distance INTEGER, origin VARCHAR, destination VARCHAR',
);

export const TPCH_COLUMNS: ReadonlyMap<string, Columns> = new Map([
  ['region', cols('r_regionkey INTEGER, r_name VARCHAR, r_comment VARCHAR')],
  ['nation', cols('n_nationkey INTEGER, n_name VARCHAR, n_regionkey INTEGER, n_comment VARCHAR')],
  [
    'supplier',
    cols(
      's_suppkey INTEGER, s_name VARCHAR, s_address VARCHAR, s_nationkey INTEGER, s_phone VARCHAR, s_acctbal DECIMAL(15,2), s_comment VARCHAR',
    ),
  ],
  [
    'customer',
    cols(
      'c_custkey INTEGER, c_name VARCHAR, c_address VARCHAR, c_nationkey INTEGER, c_phone VARCHAR, c_acctbal DECIMAL(15,2), c_mktsegment VARCHAR, c_comment VARCHAR',
    ),
  ],
  [
    'part',
    cols(
      'p_partkey INTEGER, p_name VARCHAR, p_mfgr VARCHAR, p_brand VARCHAR, p_type VARCHAR, p_size INTEGER, p_container VARCHAR, p_retailprice DECIMAL(15,2), p_comment VARCHAR',
    ),
  ],
  [
    'partsupp',
    cols(
      'ps_partkey INTEGER, ps_suppkey INTEGER, ps_availqty INTEGER, ps_supplycost DECIMAL(15,2), ps_comment VARCHAR',
    ),
  ],
  [
    'orders',
    cols(
      'o_orderkey BIGINT, o_custkey INTEGER, o_orderstatus VARCHAR, o_totalprice DECIMAL(15,2), o_orderdate DATE, o_orderpriority VARCHAR, o_clerk VARCHAR, o_shippriority INTEGER, o_comment VARCHAR',
    ),
  ],
  [
    'lineitem',
    cols(
      'l_orderkey BIGINT, l_partkey INTEGER, l_suppkey INTEGER, l_linenumber INTEGER, l_quantity DECIMAL(15,2), l_extendedprice DECIMAL(15,2), l_discount DECIMAL(15,2), l_tax DECIMAL(15,2), l_returnflag VARCHAR, l_linestatus VARCHAR, l_shipdate DATE, l_commitdate DATE, l_receiptdate DATE, l_shipinstruct VARCHAR, l_shipmode VARCHAR, l_comment VARCHAR',
    ),
  ],
]);

export const UNCONDITIONAL: ReadonlyMap<string, Columns> = new Map([
  ['airports', AIRPORTS_COLUMNS],
  ['flights', FLIGHTS_COLUMNS],
]);

export const ALICE_POLICY_TEXT = readFileSync(
  new URL('../../policies/demo/agr-alice-citizens.yaml', import.meta.url),
  'utf8',
);

/** Alice under agr-alice-citizens: citizens shaped, hospital_visits unlicensed. */
export function aliceScope(): Scope {
  return compileScope(
    loadPolicyDocument(ALICE_POLICY_TEXT, 'yaml'),
    new Map([['citizens', CITIZENS_COLUMNS]]),
    {
      unlicensed: new Set(['hospital_visits']),
      hashSecret: HASH_SECRET,
      dataCatalog: DATA_CATALOG,
      unconditional: UNCONDITIONAL,
    },
  );
}

/** Bob has no agreement: unconditional data only. */
export function bobScope(): Scope {
  return compileScope(null, new Map(), {
    unlicensed: new Set(['citizens', 'hospital_visits']),
    hashSecret: '00',
    dataCatalog: DATA_CATALOG,
    unconditional: UNCONDITIONAL,
  });
}

/** The eight TPC-H tables as unconditional data: every column allowed. */
export function tpchScope(): Scope {
  return compileScope(null, new Map(), {
    unlicensed: new Set(),
    hashSecret: '00',
    dataCatalog: DATA_CATALOG,
    unconditional: TPCH_COLUMNS,
  });
}

export const HOSPITAL_COLUMNS_FOR_TESTS = HOSPITAL_COLUMNS;

/** An in-memory DuckDB (one thread) with the data catalog attached. */
export async function openDuck(): Promise<{ con: DuckDBConnection; close(): void }> {
  const instance = await DuckDBInstance.create(':memory:', { threads: '1' });
  const con = await instance.connect();
  await con.run(`ATTACH ':memory:' AS ${DATA_CATALOG}`);
  return {
    con,
    close() {
      con.closeSync();
      instance.closeSync();
    },
  };
}

/** Runs `fn` with a fresh DuckDB from `openDuck`; always closes it. */
export async function withDuck<T>(fn: (con: DuckDBConnection) => Promise<T>): Promise<T> {
  const duck = await openDuck();
  try {
    return await fn(duck.con);
  } finally {
    duck.close();
  }
}

/** Rows as JSON-safe values (bigints and decimals as strings), in answer order. */
export async function rowsOf(con: DuckDBConnection, sql: string): Promise<unknown[][]> {
  const reader = await con.runAndReadAll(sql);
  return reader.getRowsJson() as unknown[][];
}

export function hmacHex(secretHex: string, value: string): string {
  return createHmac('sha256', Buffer.from(secretHex, 'hex')).update(value, 'utf8').digest('hex');
}

/** One row of the tiny citizens table; every value is distinctive so leaks can be searched. */
export interface CitizenRow {
  readonly id: number;
  readonly name: string;
  readonly idCard: string;
  readonly phone: string;
  readonly gender: 'M' | 'F';
  readonly birthDate: string;
  readonly district: string;
  readonly income: number;
}

const SURNAMES = ['王', '李', '张', '刘', '陈', '杨', '赵', '黄', '周', '吴'];
const GIVEN = ['伟', '芳', '娜', '敏', '静', '丽', '强', '磊', '军', '洋', '勇', '艳'];

/** 12 in Pudong, 11 in Xuhui (the filter keeps these 23), 9 in Jingan, 4 in Minhang. */
export const CITIZENS: readonly CitizenRow[] = (() => {
  const plan: [string, number][] = [
    ['Pudong', 12],
    ['Xuhui', 11],
    ['Jingan', 9],
    ['Minhang', 4],
  ];
  const rows: CitizenRow[] = [];
  let id = 1;
  for (const [district, n] of plan) {
    for (let i = 0; i < n; i++, id++) {
      rows.push({
        id,
        name: `${SURNAMES[id % SURNAMES.length]}${GIVEN[id % GIVEN.length]}${GIVEN[(id * 7) % GIVEN.length]}`,
        idCard: `31011519${String(70 + (id % 30)).padStart(2, '0')}0${(id % 9) + 1}1${id % 10}${String(100 + id).slice(-3)}${id % 10}`,
        phone: `139${String(10_000_000 + id * 7_919).padStart(8, '0')}`,
        gender: id % 2 === 0 ? 'F' : 'M',
        birthDate: `19${70 + (id % 30)}-${String((id % 12) + 1).padStart(2, '0')}-${String((id % 27) + 2).padStart(2, '0')}`,
        district,
        income: 50_000 + id * 1_237.71 + ((id * id) % 17) * 13.37,
      });
    }
  }
  return rows;
})();

/** Creates citizens (and two airports) in the data catalog. */
export async function createCitizens(con: DuckDBConnection): Promise<void> {
  await con.run(`CREATE TABLE ${DATA_CATALOG}.main.airports AS
    SELECT * FROM (VALUES ('PVG', 'Pudong Intl', 'Shanghai', CAST(NULL AS VARCHAR), 'China', 31.14, 121.8),
                          ('SHA', 'Hongqiao', 'Shanghai', NULL, 'China', 31.2, 121.34))
      t(iata, name, city, state, country, latitude, longitude)`);
  await con.run(`CREATE TABLE ${DATA_CATALOG}.main.citizens (
    id INTEGER, name VARCHAR, id_card VARCHAR, phone VARCHAR, gender VARCHAR,
    birth_date DATE, district VARCHAR, income DOUBLE)`);
  const values = CITIZENS.map(
    (r) =>
      `(${r.id}, '${r.name}', '${r.idCard}', '${r.phone}', '${r.gender}', DATE '${r.birthDate}', '${r.district}', ${r.income})`,
  ).join(',\n');
  await con.run(`INSERT INTO ${DATA_CATALOG}.main.citizens VALUES ${values}`);
}
