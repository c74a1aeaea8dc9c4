import { readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '../../gateway/errors.ts';
import { planQuery } from '../../policies/planner.ts';
import { normalizeSql } from '../../policies/sql-normalize.ts';
import { openDuck, rowsOf, tpchScope } from './support.ts';

/**
 * The text stages: the lexical normalizer (table of inputs and outputs or error codes), and
 * fidelity of parse + re-associate + render: each query in lexical/fidelity.json must give in
 * DuckDB exactly the answer of the raw text, including where node-sql-parser nests operators
 * wrongly (AND/OR, NOT, ||, set operations).
 */

const read = (name: string) =>
  JSON.parse(readFileSync(new URL(`./lexical/${name}`, import.meta.url), 'utf8'));
const normalizeVectors = read('normalize.json') as {
  desc: string;
  sql: string;
  want: string | { code: string };
}[];
const fidelity = read('fidelity.json') as string[];

describe('normalizer', () => {
  it.each(normalizeVectors)('$desc', ({ sql, want }) => {
    if (typeof want === 'string') {
      expect(normalizeSql(sql)).toBe(want);
      return;
    }
    let error: unknown;
    try {
      normalizeSql(sql);
    } catch (err) {
      error = err;
    }
    expect(isSluiceError(error) && error.code).toBe(want.code);
  });
});

describe('fidelity of the rendered SQL', () => {
  let con: DuckDBConnection;
  let close: () => void;
  beforeAll(async () => {
    ({ con, close } = await openDuck());
  });
  afterAll(() => close());

  it.each(fidelity)('%s', async (sql) => {
    const planned = planQuery(sql, tpchScope()).sql;
    expect(await rowsOf(con, planned)).toEqual(await rowsOf(con, sql));
  });
});
