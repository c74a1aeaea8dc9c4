import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { jsonEncoderFor } from '../../sandbox/json-values.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * TPC-H fidelity: every one of the 22 fixture queries, sent through the whole gateway
 * (auth, parse, check, rewrite, render, second check, worker), must answer exactly what
 * DuckDB answers for the raw text on the same data.
 */
const FIXTURES = path.resolve(import.meta.dirname, '../../../shared/fixtures/tpch-queries');

let gw: TestGateway;
let direct: DuckDBInstance;
const queries: [string, string][] = [];

beforeAll(async () => {
  gw = await startTestGateway();
  direct = await DuckDBInstance.create(inject('demoDbPath'), { access_mode: 'READ_ONLY' });
  for (const file of (await readdir(FIXTURES)).filter((f) => f.endsWith('.sql')).sort()) {
    queries.push([file, await readFile(path.join(FIXTURES, file), 'utf8')]);
  }
});
afterAll(async () => {
  direct?.closeSync();
  await gw?.close();
});

/** Runs the raw text in process and encodes values the way the gateway does. */
async function runDirect(sql: string): Promise<unknown[][]> {
  const conn = await direct.connect();
  try {
    const reader = await conn.runAndReadAll(sql);
    const encoders = reader.columnTypes().map(jsonEncoderFor);
    return reader.getRows().map((row) => row.map((v, i) => encoders[i]!(v)));
  } finally {
    conn.closeSync();
  }
}

/** Doubles summed in parallel may differ in the last bits; everything else must be equal. */
function close(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    return a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
  }
  return a === b;
}

describe('TPC-H through the gateway', () => {
  it('has all 22 fixture queries', () => {
    expect(queries.map(([f]) => f)).toHaveLength(22);
  });

  for (let n = 1; n <= 22; n++) {
    const name = `q${String(n).padStart(2, '0')}.sql`;
    it(`${name} answers exactly as DuckDB does`, async () => {
      const sql = queries.find(([f]) => f === name)![1];
      const want = await runDirect(sql);
      expect(want.length).toBeGreaterThan(0);
      const res = await gw.app.inject({
        method: 'POST',
        url: '/v1/query',
        headers: await gw.as('bob'),
        payload: { sql },
      });
      expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
      const got = res.json();
      expect(got.truncated).toBe(false);
      expect(got.rowCount).toBe(want.length);
      // Row order matters where the query orders; compare in the order returned.
      for (let r = 0; r < want.length; r++) {
        const ok = want[r]!.every((v, c) => close(v, got.rows[r][c]));
        if (!ok) expect(got.rows[r]).toEqual(want[r]);
      }
    });
  }
});
