import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enumMembers, parseRowFilter, typedRowFilter } from '../../policies/row-filter.ts';
import { renderExpr } from '../../policies/sql-render.ts';

const DISTRICT = "ENUM('Jingan', 'Pudong', 'Xuhui')";
const types = new Map([
  ['district', DISTRICT],
  ['name', 'VARCHAR'],
  ['id', 'INTEGER'],
]);
const typed = (filter: string) =>
  renderExpr(typedRowFilter(parseRowFilter(filter, [...types.keys()]), types));

describe('enumMembers', () => {
  it.each([
    ["ENUM('a', 'b')", ['a', 'b']],
    ["enum('it''s','x y')", ["it's", 'x y']],
    ["ENUM('')", ['']],
  ])('reads %s', (type, members) => {
    expect([...enumMembers(type)!]).toEqual(members);
  });

  it.each(['VARCHAR', "ENUM('a' 'b')", "ENUM('a', b)", "ENUM('a'", 'ENUMS'])(
    'is undefined for %s',
    (type) => {
      expect(enumMembers(type)).toBeUndefined();
    },
  );
});

describe('typedRowFilter', () => {
  it('spells member literals of =, <>, IN and NOT IN as ENUM values', () => {
    expect(typed("district IN ('Pudong', 'Xuhui')")).toBe(
      `("district" IN (CAST('Pudong' AS ${DISTRICT}), CAST('Xuhui' AS ${DISTRICT})))`,
    );
    expect(typed("'Jingan' <> district AND (id > 3 OR district = 'Xuhui')")).toContain(
      `(CAST('Jingan' AS ${DISTRICT}) <> "district")`,
    );
    expect(typed("district NOT IN ('Jingan')")).toContain(`CAST('Jingan' AS ${DISTRICT})`);
  });

  it.each([
    "district IN ('Pudong', 'Atlantis')", // a non-member would make the cast fail
    "district < 'Pudong'", // ENUMs order by declaration, not as text
    "name = 'Pudong'",
    "upper(district) = 'PUDONG'",
  ])('leaves %s as written', (filter) => {
    expect(typed(filter)).toBe(renderExpr(parseRowFilter(filter, [...types.keys()])));
  });
});

describe('typed row filters in DuckDB', () => {
  let instance: DuckDBInstance;
  beforeAll(async () => {
    instance = await DuckDBInstance.create(':memory:');
  });
  afterAll(() => instance.closeSync());

  it.each([
    "district IN ('Pudong', 'Xuhui')",
    "district NOT IN ('Pudong')",
    "district <> 'Jingan' AND id % 2 = 0",
    "district = 'Xuhui' OR id < 5",
  ])('selects the same rows as the filter as written: %s', async (filter) => {
    const conn = await instance.connect();
    await conn.run(`CREATE OR REPLACE TABLE t AS
      SELECT i AS id, ['Jingan', 'Pudong', 'Xuhui'][1 + i % 3]::${DISTRICT} AS district, 'n' || i AS name
      FROM range(60) r(i)`);
    const ids = async (where: string) =>
      (await conn.runAndReadAll(`SELECT list(id ORDER BY id) FROM t WHERE ${where}`)).getRowsJson();
    const plain = await ids(renderExpr(parseRowFilter(filter, [...types.keys()])));
    expect(typed(filter)).toContain('CAST(');
    expect(await ids(typed(filter))).toEqual(plain);
    expect(JSON.stringify(plain)).not.toBe('[[null]]');
    conn.closeSync();
  });
});
