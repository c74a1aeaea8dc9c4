/**
 * Planning time of planQuery over the 22 TPC-H queries (every column allowed) and Alice's demo
 * queries, after a warm-up, and raw node-sql-parser astify of the same text as the baseline.
 * Not a test: `node bench/plan-timing.ts` prints the figures (belongs in bench/ once
 * the lead moves it).
 */

import { readdirSync, readFileSync } from 'node:fs';
import sqlParser from 'node-sql-parser/build/postgresql.js';
import { planQuery } from '../policies/planner.ts';
import { aliceScope, tpchScope } from '../test/policies/support.ts';

const dir = new URL('../../../shared/fixtures/tpch-queries/', import.meta.url);
const tpch = readdirSync(dir)
  .filter((f) => f.endsWith('.sql'))
  .sort()
  .map((f) => readFileSync(new URL(f, dir), 'utf8'));
const demo = [
  'SELECT district, avg(income) FROM citizens GROUP BY district',
  'SELECT extract(year FROM birth_date) AS y, district, count(*), avg(income) FROM citizens GROUP BY ROLLUP (1, 2) ORDER BY 1, 2',
  "SELECT id, name, id_card, birth_date FROM citizens WHERE gender = 'F' ORDER BY id LIMIT 20",
  'SELECT gender, stddev(income), count(income) FROM citizens GROUP BY gender',
  'WITH f AS (SELECT id, district FROM citizens) SELECT district, count(*) FROM f GROUP BY district',
];

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

function time(
  label: string,
  queries: readonly string[],
  fn: (sql: string) => unknown,
  rounds = 20,
): void {
  for (const q of queries) fn(q);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const q of queries) {
      const t = performance.now();
      fn(q);
      samples.push(performance.now() - t);
    }
  }
  console.log(
    `${label.padEnd(36)} n=${samples.length} p50=${percentile(samples, 0.5).toFixed(2)}ms p95=${percentile(samples, 0.95).toFixed(2)}ms max=${Math.max(...samples).toFixed(2)}ms`,
  );
}

const parser = new sqlParser.Parser();
const tpchScopeValue = tpchScope();
const aliceScopeValue = aliceScope();
time('planQuery, 22 TPC-H queries', tpch, (q) => planQuery(q, tpchScopeValue));
time('planQuery, 5 demo queries (Alice)', demo, (q) => planQuery(q, aliceScopeValue));
time('planQuery, all 27', [...tpch, ...demo], (q) =>
  planQuery(q, demo.includes(q) ? aliceScopeValue : tpchScopeValue),
);
time('baseline: node-sql-parser astify only', [...tpch.slice(0, 21), ...demo], (q) =>
  parser.astify(q, { database: 'PostgresQL' }),
);
console.log('command: node bench/plan-timing.ts');
