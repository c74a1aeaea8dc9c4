import { readdirSync, readFileSync } from 'node:fs';
import type { DuckDBConnection } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planQuery } from '../../policies/planner.ts';
import { secondCheck } from '../../sandbox/second-check.ts';
import { openDuck, tpchScope } from './support.ts';
import { scopes, vectorFiles } from './vectors.ts';

/**
 * Every plan the planner allows (the allowed vectors and the 22 TPC-H queries) passes the
 * second check over DuckDB's own parse of the rendered SQL (sandbox/second-check.ts).
 */

const allowed = vectorFiles.flatMap((f) => f.vectors.filter((v) => v.want === 'allow'));
const tpchDir = new URL('../../../shared/fixtures/tpch-queries/', import.meta.url);
const tpch = readdirSync(tpchDir)
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => ({ desc: f, sql: readFileSync(new URL(f, tpchDir), 'utf8') }));

let con: DuckDBConnection;
let close: () => void;
const serialize = async (sql: string): Promise<string> => {
  const prepared = await con.prepare('SELECT json_serialize_sql($1::VARCHAR)');
  prepared.bindVarchar(1, sql);
  const reader = await prepared.runAndReadAll();
  return reader.getRows()[0]![0] as string;
};

beforeAll(async () => {
  ({ con, close } = await openDuck());
});
afterAll(() => close());

describe('second check accepts allowed plans', () => {
  it.each(allowed)('$desc', async (v) => {
    const plan = planQuery(v.sql, scopes[v.scope ?? 'alice']);
    await expect(secondCheck(plan, serialize)).resolves.toBeUndefined();
  });

  it.each(tpch)('$desc', async ({ sql }) => {
    await expect(secondCheck(planQuery(sql, tpchScope()), serialize)).resolves.toBeUndefined();
  });
});
