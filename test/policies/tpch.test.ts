import { readdirSync, readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateTpch, TPCH_MIN_SCALE } from '../../datasets/tpch.ts';
import { planQuery } from '../../policies/planner.ts';
import { DATA_CATALOG, rowsOf, tpchScope, withDuck } from './support.ts';

/**
 * Fidelity: the 22 TPC-H queries plan under a scope granting the eight tables (every column
 * allowed), and the rendered SQL, run in an in-process DuckDB on tables from the project's
 * TPC-H generator at its smallest scale, gives exactly the answer of the raw query.
 */

const dir = new URL('../../../shared/fixtures/tpch-queries/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.sql'))
  .sort();
const queries = files.map((f) => ({ name: f, sql: readFileSync(new URL(f, dir), 'utf8') }));

describe('TPC-H', () => {
  const scope = tpchScope();

  it('has the 22 fixture queries', () => {
    expect(queries).toHaveLength(22);
  });

  it.each(queries)('$name plans', ({ sql }) => {
    const plan = planQuery(sql, scope);
    expect(plan.shaped.length).toBeGreaterThan(0);
    for (const s of plan.shaped)
      expect(plan.sql).toContain(`"${s.name}" AS NOT MATERIALIZED (${s.sql})`);
    expect(plan.shape).not.toMatch(/'/);
  });

  describe('answers through the planner equal raw DuckDB answers', () => {
    const results = new Map<string, { raw: unknown[][]; planned: unknown[][] }>();

    beforeAll(async () => {
      await withDuck(async (con) => {
        await con.run(`USE ${DATA_CATALOG}`);
        await generateTpch(con, TPCH_MIN_SCALE);
        for (const q of queries) {
          const raw = await rowsOf(con, q.sql);
          const planned = await rowsOf(con, planQuery(q.sql, scope).sql);
          results.set(q.name, { raw, planned });
        }
      });
    });

    it.each(queries)('$name', ({ name }) => {
      const r = results.get(name)!;
      expect(r.planned).toEqual(r.raw);
    });

    it('most queries return rows on the tiny data', () => {
      const nonEmpty = [...results.values()].filter((r) => r.raw.length > 0).length;
      expect(nonEmpty).toBeGreaterThanOrEqual(18);
    });
  });
});
