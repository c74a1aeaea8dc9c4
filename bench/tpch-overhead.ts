/**
 * Benchmark 1, policy overhead: each query end to end through the gateway (HTTP, auth, parse,
 * check, rewrite, second check, execution in an engine worker, usage record, JSON answer)
 * against the same SQL on DuckDB in this process, on the same file, sized like one worker
 * (same threads and memory limit), rows read and converted to JSON-safe values.
 *
 * - The 22 TPC-H queries (shared fixtures), as Bob: the TPC-H tables are unconditional, so the
 *   gateway adds no row filter or mask; what it adds is overhead.
 * - The demo policy queries on `citizens`, as Alice, against two baselines: the user's SQL on
 *   the raw table (no policy at all) and the gateway's rendered SQL (the policy's own work
 *   included, so the difference is the gateway's overhead alone).
 *
 * Runs are interleaved (gateway, then direct, per repetition) so drift in the machine's load
 * hits both sides; the first repetition is a discarded warm-up; medians are kept.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EnginePool } from '../sandbox/engine-pool.ts';
import { CITIZEN_QUERIES } from './citizen-queries.ts';
import type { GatewayProcess } from './gateway-process.ts';
import { ALICE, BOB, type DirectDuckDB, type InProcessAccess } from './in-process.ts';
import type { Report } from './report.ts';
import { fmtMs, geomean, median } from './stats.ts';

/** The shared fixtures, which sit beside the repository (`../shared`). */
export const TPCH_QUERY_DIR = path.resolve(
  import.meta.dirname,
  '../../shared/fixtures/tpch-queries',
);

export interface OverheadOptions {
  readonly gateway: GatewayProcess;
  /** An engine pool of one worker on the same file, for the engine's own timings. */
  readonly pool: EnginePool;
  readonly direct: DirectDuckDB;
  readonly access: InProcessAccess;
  readonly tpchScale: number;
  readonly citizens: number;
  readonly runs: number;
  readonly command: string;
  readonly queryDir?: string;
}

interface Timed {
  readonly id: string;
  readonly gatewayMs: number;
  readonly directMs: number;
  readonly renderedMs: number;
  readonly poolMs: number;
  readonly secondCheckMs: number;
  readonly executeMs: number;
  readonly ratio: number;
  readonly rows: number;
}

export function tpchQueries(dir: string = TPCH_QUERY_DIR): { id: string; sql: string }[] {
  return readdirSync(dir)
    .filter((f) => /^q\d\d\.sql$/.test(f))
    .sort()
    .map((f) => ({ id: f.slice(0, 3), sql: readFileSync(path.join(dir, f), 'utf8') }));
}

export async function runTpchOverhead(report: Report, opts: OverheadOptions): Promise<void> {
  const dir = opts.queryDir ?? TPCH_QUERY_DIR;
  const queries = tpchQueries(dir);
  const bob = await opts.access.gatewayPlanner(BOB);
  console.log('');
  console.log(
    `## 1a. Policy overhead, TPC-H SF${opts.tpchScale}: ${queries.length} queries as bob, gateway over HTTP vs DuckDB in process (${opts.runs} warm runs each)`,
  );
  console.log(
    'query | gateway p50 ms | DuckDB p50 ms | ratio | overhead ms | rendered SQL ms | engine pool ms (2nd check, execute+encode) | rows',
  );
  const results: Timed[] = [];
  for (const q of queries) {
    const plan = bob.plan(q.sql);
    const gw: number[] = [];
    const direct: number[] = [];
    const rendered: number[] = [];
    const pool: number[] = [];
    const checks: number[] = [];
    const executes: number[] = [];
    let gwRows = -1;
    let directRows = -1;
    for (let i = 0; i <= opts.runs; i++) {
      let t = performance.now();
      const out = await opts.gateway.queryOk('bob', q.sql);
      const g = performance.now() - t;
      t = performance.now();
      const rows = await opts.direct.rows(q.sql);
      const d = performance.now() - t;
      t = performance.now();
      await opts.direct.rows(plan.sql);
      const r = performance.now() - t;
      t = performance.now();
      const engine = await opts.pool.query({ plan, maxRows: bob.maxRows, format: 'json' });
      const e = performance.now() - t;
      if (i > 0) {
        gw.push(g);
        direct.push(d);
        rendered.push(r);
        pool.push(e);
        checks.push(engine.timings.secondCheckMs);
        executes.push(engine.timings.executeMs);
      }
      gwRows = out.rowCount;
      directRows = rows.length;
      if (out.truncated) report.problem(`tpch ${q.id}: the gateway truncated the answer`);
    }
    if (gwRows !== directRows) {
      report.problem(`tpch ${q.id}: gateway returned ${gwRows} rows, DuckDB ${directRows}`);
    }
    const g = median(gw);
    const d = median(direct);
    const r = median(rendered);
    const e = median(pool);
    const c = median(checks);
    const x = median(executes);
    results.push({
      id: q.id,
      gatewayMs: g,
      directMs: d,
      renderedMs: r,
      poolMs: e,
      secondCheckMs: c,
      executeMs: x,
      ratio: g / d,
      rows: gwRows,
    });
    console.log(
      `${q.id}   | ${fmtMs(g).padStart(14)} | ${fmtMs(d).padStart(13)} | ${(g / d).toFixed(2).padStart(5)} | ${fmtMs(g - d).padStart(11)} | ${fmtMs(r).padStart(14)} | ${`${fmtMs(e)} (${fmtMs(c)}, ${fmtMs(x)})`.padStart(42)} | ${gwRows}`,
    );
  }
  report.detail('tpch', { scale: opts.tpchScale, runs: opts.runs, perQuery: results });
  const gm = geomean(results.map((r) => r.ratio));
  report.add({
    id: 'tpch.ratio',
    name: `Policy overhead: TPC-H SF${opts.tpchScale}, ${results.length} queries, gateway / DuckDB in process (geo. mean)`,
    value: gm,
    unit: 'x',
    target: { op: '<=', limit: 1.1 },
    baseline: `DuckDB in process ${fmtMs(geomean(results.map((r) => r.directMs)))} ms vs gateway ${fmtMs(geomean(results.map((r) => r.gatewayMs)))} ms (geo. means)`,
    command: opts.command,
  });
  report.add({
    id: 'tpch.rendered_ratio',
    name: `Policy overhead: TPC-H SF${opts.tpchScale}, gateway's rendered SQL / original SQL, both in process (geo. mean)`,
    value: geomean(results.map((r) => r.renderedMs / r.directMs)),
    unit: 'x',
    baseline: 'the part of the ratio due to the rewritten query shape, not the request path',
    command: opts.command,
  });
  const med = (f: (t: Timed) => number) => fmtMs(median(results.map(f)));
  console.log(
    `median per query: gateway - DuckDB ${med((t) => t.gatewayMs - t.directMs)} ms = request path outside the engine (HTTP, auth, plan, record, JSON) ${med((t) => t.gatewayMs - t.poolMs)} ms + engine IPC ${med((t) => t.poolMs - t.secondCheckMs - t.executeMs)} ms + second check ${med((t) => t.secondCheckMs)} ms + engine execute+encode over in-process ${med((t) => t.executeMs - t.directMs)} ms (medians of each part, so the sum is approximate)`,
  );
  report.add({
    id: 'tpch.overhead_ms',
    name: `Policy overhead: TPC-H SF${opts.tpchScale}, median added time per query`,
    value: median(results.map((r) => r.gatewayMs - r.directMs)),
    unit: 'ms',
    command: opts.command,
  });

  await runCitizenOverhead(report, opts);
}

async function runCitizenOverhead(report: Report, opts: OverheadOptions): Promise<void> {
  console.log('');
  console.log(
    `## 1b. Policy overhead, demo policy queries on ${opts.citizens.toLocaleString('en-US')} citizens as alice (${opts.runs} warm runs each)`,
  );
  console.log(
    'query                      | gateway p50 ms | raw SQL, no policy ms | rendered SQL ms | gw/raw | gw/rendered | rows',
  );
  const alice = await opts.access.gatewayPlanner(ALICE);
  const results: {
    id: string;
    gatewayMs: number;
    rawMs: number;
    renderedMs: number;
    rows: number;
  }[] = [];
  for (const q of CITIZEN_QUERIES) {
    const plan = alice.plan(q.sluice);
    const gw: number[] = [];
    const raw: number[] = [];
    const rendered: number[] = [];
    let gwRows = -1;
    let renderedRows = -1;
    for (let i = 0; i <= opts.runs; i++) {
      let t = performance.now();
      const out = await opts.gateway.queryOk('alice', q.sluice);
      const g = performance.now() - t;
      t = performance.now();
      await opts.direct.rows(q.sluice);
      const r = performance.now() - t;
      t = performance.now();
      const rows = await opts.direct.rows(plan.sql);
      const p = performance.now() - t;
      if (i > 0) {
        gw.push(g);
        raw.push(r);
        rendered.push(p);
      }
      gwRows = out.rowCount;
      renderedRows = rows.length;
    }
    if (gwRows !== renderedRows) {
      report.problem(
        `citizens ${q.id}: gateway returned ${gwRows} rows, its rendered SQL in process ${renderedRows}`,
      );
    }
    const g = median(gw);
    const r = median(raw);
    const p = median(rendered);
    results.push({ id: q.id, gatewayMs: g, rawMs: r, renderedMs: p, rows: gwRows });
    console.log(
      `${q.id.padEnd(26)} | ${fmtMs(g).padStart(14)} | ${fmtMs(r).padStart(21)} | ${fmtMs(p).padStart(15)} | ${(g / r).toFixed(2).padStart(6)} | ${(g / p).toFixed(2).padStart(11)} | ${gwRows}`,
    );
  }
  report.detail('citizensOverhead', {
    citizens: opts.citizens,
    runs: opts.runs,
    perQuery: results,
  });
  report.add({
    id: 'citizens.ratio_raw',
    name: `Policy overhead: ${results.length} demo queries, ${opts.citizens.toLocaleString('en-US')} citizens, gateway / raw SQL in process (geo. mean)`,
    value: geomean(results.map((r) => r.gatewayMs / r.rawMs)),
    unit: 'x',
    baseline: `raw SQL without policy ${fmtMs(geomean(results.map((r) => r.rawMs)))} ms vs gateway ${fmtMs(geomean(results.map((r) => r.gatewayMs)))} ms (geo. means)`,
    command: opts.command,
  });
  report.add({
    id: 'citizens.ratio_rendered',
    name: `Policy overhead: same, gateway / its rendered SQL in process (geo. mean)`,
    value: geomean(results.map((r) => r.gatewayMs / r.renderedMs)),
    unit: 'x',
    baseline: `rendered SQL ${fmtMs(geomean(results.map((r) => r.renderedMs)))} ms (geo. mean)`,
    command: opts.command,
  });
}
