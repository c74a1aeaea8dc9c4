/**
 * Planning time of planQuery over the 22 TPC-H queries (every column allowed) and Alice's demo
 * queries, after a warm-up, and node-sql-parser's astify alone (after the planner's lexical
 * normalization) on the same texts and on the bench's policy queries (bench/citizen-queries.ts): how much of planning is the parser.
 * Not a test: `./sluice node bench/plan-timing.ts` prints the figures.
 */

import sqlParser from 'node-sql-parser/build/postgresql.js';
import { planQuery } from '../policies/planner.ts';
import { normalizeSql } from '../policies/sql-normalize.ts';
import { aliceScope, tpchScope } from '../test/policies/support.ts';
import { CITIZEN_QUERIES } from './citizen-queries.ts';
import { median, percentile } from './stats.ts';
import { tpchQueries } from './tpch-overhead.ts';

const tpch = tpchQueries().map((q) => q.sql);
const demo = [
  'SELECT district, avg(income) FROM citizens GROUP BY district',
  'SELECT extract(year FROM birth_date) AS y, district, count(*), avg(income) FROM citizens GROUP BY ROLLUP (1, 2) ORDER BY 1, 2',
  "SELECT id, name, id_card, birth_date FROM citizens WHERE gender = 'F' ORDER BY id LIMIT 20",
  'SELECT gender, stddev(income), count(income) FROM citizens GROUP BY gender',
  'WITH f AS (SELECT id, district FROM citizens) SELECT district, count(*) FROM f GROUP BY district',
];

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
    `${label.padEnd(50)} n=${samples.length} p50=${median(samples).toFixed(2)}ms p95=${percentile(samples, 95).toFixed(2)}ms max=${Math.max(...samples).toFixed(2)}ms`,
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
// The planner's own lexical normalization first (some TPC-H texts need it), then the parser.
const astify = (q: string) => parser.astify(normalizeSql(q), { database: 'PostgresQL' });
time('baseline: normalize + astify only', [...tpch, ...demo], astify);
time('normalize + astify, 22 TPC-H queries', tpch, astify);
for (const q of CITIZEN_QUERIES) time(`normalize + astify, ${q.id}`, [q.sluice], astify, 200);
console.log('command: ./sluice node bench/plan-timing.ts');
