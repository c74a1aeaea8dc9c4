/**
 * Two versions of the gateway on this machine at once: this checkout and `<commit>` (checked
 * out with `git worktree` into `.bench/ab/<commit>`). On a shared VM whose speed drifts by tens
 * of percent between runs, figures from separate runs cannot tell a small change from drift;
 * here both sides run side by side and take turns, so drift hits both.
 *
 *   ./sluice node bench/ab.ts <commit> [peer] [load]     (both when neither is named)
 *
 * peer: the demo policy queries on 1,000,000 citizens as alice, one request at a time, the
 *       two gateways alternating query by query (which goes first alternates each round).
 * load: autocannon at 32 clients on the shipped demo, 10 s per side, twice, sides alternating.
 * Each side gets its own copy of the bench data (run `./sluice bench` once to make it).
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, rm, symlink } from 'node:fs/promises';
import path from 'node:path';
import autocannon from 'autocannon';
import { BENCH_DIR, REPO_ROOT } from './bench-data.ts';
import { CITIZEN_QUERIES } from './citizen-queries.ts';
import { GatewayProcess } from './gateway-process.ts';
import { loadRequests } from './load.ts';
import { geomean, median } from './stats.ts';

const [commit, ...wanted] = process.argv.slice(2);
if (!commit || wanted.some((w) => w !== 'peer' && w !== 'load')) {
  console.error('usage: ./sluice node bench/ab.ts <commit> [peer] [load]');
  process.exit(2);
}
const runs = new Set(wanted.length > 0 ? wanted : ['peer', 'load']);
const AB_DIR = path.join(BENCH_DIR, 'ab');
const SOURCES = { peer: 'sf1-citizens1000000', load: 'demo' } as const;

/** The other version's checkout, sharing this one's node_modules. */
async function otherCheckout(): Promise<string> {
  const sha = execFileSync('git', ['rev-parse', '--short', commit!], { cwd: REPO_ROOT })
    .toString()
    .trim();
  const dir = path.join(AB_DIR, sha);
  if (!existsSync(dir)) {
    execFileSync('git', ['worktree', 'add', '--detach', dir, sha], { cwd: REPO_ROOT });
    await symlink(path.join(REPO_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  }
  return dir;
}

/** A private copy of a bench data directory for one side (the gateway writes its record). */
async function dataCopy(run: keyof typeof SOURCES, side: string): Promise<string> {
  const from = path.join(BENCH_DIR, SOURCES[run]);
  if (!existsSync(path.join(from, 'datasets.duckdb'))) {
    throw new Error(`${from} has no data yet: run ./sluice bench once first`);
  }
  const to = path.join(AB_DIR, `data-${run}-${side}`);
  await rm(to, { recursive: true, force: true });
  await mkdir(to, { recursive: true, mode: 0o700 });
  for (const item of ['datasets.duckdb', 'keys']) {
    await cp(path.join(from, item), path.join(to, item), { recursive: true });
  }
  return to;
}

const other = await otherCheckout();
const serves = {
  this: path.join(REPO_ROOT, 'bench', 'serve.ts'),
  [commit]: path.join(other, 'bench', 'serve.ts'),
};
const sides = Object.keys(serves);

if (runs.has('peer')) {
  const gateways = await Promise.all(
    sides.map(async (side) =>
      GatewayProcess.start(
        { dataDir: await dataCopy('peer', side), queryTimeoutMs: 120_000 },
        serves[side],
      ),
    ),
  );
  try {
    const rounds = 40;
    const times = gateways.map(() => CITIZEN_QUERIES.map((): number[] => []));
    for (let round = 0; round < rounds + 10; round++) {
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      for (const [qi, q] of CITIZEN_QUERIES.entries()) {
        for (const g of order) {
          const t = performance.now();
          await gateways[g]!.queryOk('alice', q.sluice);
          if (round >= 10) times[g]![qi]!.push(performance.now() - t);
        }
      }
    }
    console.log(`peer queries, 1,000,000 citizens, p50 ms over ${rounds} rounds taking turns:`);
    console.log(`side     | ${CITIZEN_QUERIES.map((q) => q.id).join(' | ')} | geo. mean`);
    for (const [g, side] of sides.entries()) {
      const medians = times[g]!.map(median);
      console.log(
        `${side.padEnd(8)} | ${medians.map((m) => m.toFixed(2)).join(' | ')} | ${geomean(medians).toFixed(2)}`,
      );
    }
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
  }
}

if (runs.has('load')) {
  const gateways = await Promise.all(
    sides.map(async (side) =>
      GatewayProcess.start({ dataDir: await dataCopy('load', side) }, serves[side]),
    ),
  );
  try {
    console.log('load, 3 small policy queries as alice on 100,000 citizens, 32 clients, 10 s:');
    for (let rep = 0; rep < 2; rep++) {
      for (const g of rep === 0 ? [0, 1] : [1, 0]) {
        const gateway = gateways[g]!;
        const requests = loadRequests(gateway);
        await autocannon({ url: gateway.url, connections: 8, duration: 2, requests });
        const r = await autocannon({ url: gateway.url, connections: 32, duration: 10, requests });
        console.log(
          `${sides[g]!.padEnd(8)} | ${(r['2xx'] / r.duration).toFixed(0)} queries/s | p50 ${r.latency.p50} ms | p99 ${r.latency.p99} ms | non-2xx ${r.non2xx}`,
        );
      }
    }
  } finally {
    await Promise.all(gateways.map((g) => g.stop()));
  }
}
