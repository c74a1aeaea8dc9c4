/**
 * `./sluice bench` (also `npm run bench`): every benchmark of issue 4, measured side by side
 * with its baseline in one run, then one table of figures with target, verdict and the command
 * that reproduces each, written to `.bench/results.json` as well.
 *
 *   ./sluice bench [--only tpch,peer,load,stages] [--quick] [--runs N] [--seconds N]
 *                  [--scale SF] [--citizens N] [--pg-port P] [--workers N] [--threads N]
 *
 * tpch   policy overhead: 22 TPC-H queries at SF1 and the demo policy queries on 1,000,000
 *        citizens, gateway over HTTP vs DuckDB in process
 * peer   the demo policy queries on 1,000,000 citizens, Sluice vs PostgreSQL 15 with RLS and a
 *        security-barrier masking view (installed with apt-get if missing, throwaway cluster)
 * load   autocannon at 1, 8 and 32 clients, small policy queries on the demo data
 * stages planner + second check, repeated-query path, per-request breakdown, record appends,
 *        isolate cold start, Arrow download
 *
 * Data is generated once into `.bench/` and reused. `--quick` is a smoke run: TPC-H SF0.1,
 * 100,000 citizens, one warm run per query, 3 s per load level.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../gateway/config.ts';
import { DATA_CATALOG } from '../gateway/start.ts';
import { EnginePool } from '../sandbox/engine-pool.ts';
import { BENCH_DIR, citizensCsv, prepareGatewayData } from './bench-data.ts';
import { GatewayProcess } from './gateway-process.ts';
import { DirectDuckDB, InProcessAccess } from './in-process.ts';
import { runLoad } from './load.ts';
import { runPeer } from './peer-postgres.ts';
import { stopAllClusters } from './postgres.ts';
import { describeMachine, Report } from './report.ts';
import { runStages } from './stages.ts';
import { fmtMs } from './stats.ts';
import { runTpchOverhead } from './tpch-overhead.ts';

const BENCHMARKS = ['tpch', 'peer', 'load', 'stages'] as const;
type Bench = (typeof BENCHMARKS)[number];

const USAGE =
  'usage: ./sluice bench [--only tpch,peer,load,stages] [--quick] [--runs N] [--seconds N] [--scale SF] [--citizens N] [--pg-port P] [--workers N] [--threads N] [--solo-threads N]';

function parseFlags() {
  try {
    return parseArgs({
      options: {
        only: { type: 'string' },
        quick: { type: 'boolean', default: false },
        runs: { type: 'string' },
        seconds: { type: 'string' },
        scale: { type: 'string' },
        citizens: { type: 'string' },
        'pg-port': { type: 'string', default: '55432' },
        workers: { type: 'string' },
        threads: { type: 'string' },
        'solo-threads': { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    console.error(`${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    process.exit(2);
  }
}
const values = parseFlags();

if (values.help) {
  console.log(USAGE);
  process.exit(0);
}

const only = new Set<Bench>(
  values.only
    ? values.only.split(',').map((s) => {
        const b = s.trim() as Bench;
        if (!BENCHMARKS.includes(b)) {
          console.error(`unknown benchmark '${s}' (choose from ${BENCHMARKS.join(', ')})`);
          process.exit(2);
        }
        return b;
      })
    : BENCHMARKS,
);
const quick = values.quick;
const runs = Number(values.runs ?? (quick ? 1 : 5));
const seconds = Number(values.seconds ?? (quick ? 3 : 10));
const scale = Number(values.scale ?? (quick ? 0.1 : 1));
const citizens = Number(values.citizens ?? (quick ? 100_000 : 1_000_000));
const pgPort = Number(values['pg-port']);
for (const [name, v] of Object.entries({ runs, seconds, scale, citizens, pgPort })) {
  if (!(Number.isFinite(v) && v > 0)) {
    console.error(`--${name} must be a positive number`);
    process.exit(2);
  }
}

/** The exact command that reproduces one benchmark's figures with this run's settings. */
function commandFor(bench: Bench): string {
  const parts = ['./sluice bench', `--only ${bench}`];
  if (quick) parts.push('--quick');
  if (values.runs) parts.push(`--runs ${runs}`);
  if (values.seconds && bench === 'load') parts.push(`--seconds ${seconds}`);
  if (values.scale && bench === 'tpch') parts.push(`--scale ${scale}`);
  if (values.citizens && (bench === 'tpch' || bench === 'peer'))
    parts.push(`--citizens ${citizens}`);
  if (values.workers) parts.push(`--workers ${values.workers}`);
  if (values.threads) parts.push(`--threads ${values.threads}`);
  if (values['solo-threads']) parts.push(`--solo-threads ${values['solo-threads']}`);
  return parts.join(' ');
}

// The engine pool's size: the gateway's defaults unless --workers / --threads / --solo-threads
// say otherwise. The in-process baselines get the threads a lone query gets in the gateway (the
// solo worker's, when there is one) and one worker's memory.
const engine = loadConfig(
  {},
  {
    ...(values.workers ? { workers: Number(values.workers) } : {}),
    ...(values.threads ? { workerThreads: Number(values.threads) } : {}),
    ...(values['solo-threads'] ? { soloWorkerThreads: Number(values['solo-threads']) } : {}),
  },
);
const gatewayConfig = {
  workers: engine.workers,
  workerThreads: engine.workerThreads,
  soloWorkerThreads: engine.soloWorkerThreads,
  workerMemory: engine.workerMemory,
  queryTimeoutMs: 120_000,
};
const sized = {
  threads: engine.soloWorkerThreads || engine.workerThreads,
  memoryLimit: engine.workerMemory,
};

const machine = describeMachine();
const report = new Report();
const started = performance.now();
console.log(
  `Sluice benchmarks: ${[...only].join(', ')}${quick ? ' (quick)' : ''}; ${machine.date}; ${machine.cpus} CPUs (${machine.cpuModel}), ${machine.memoryGiB} GiB, node ${machine.node}; load average ${os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`,
);
console.log(
  `gateway: ${gatewayConfig.workers} engine workers x ${gatewayConfig.workerThreads} threads${gatewayConfig.soloWorkerThreads ? ` + a solo worker x ${gatewayConfig.soloWorkerThreads} threads (runs a query only while no other runs)` : ''}, ${gatewayConfig.workerMemory} each; the in-process DuckDB baseline gets ${sized.threads} threads and ${sized.memoryLimit}`,
);
if (os.cpus().length <= 2) {
  console.log(
    'note: a 2-core machine runs the gateway, its engine workers, the load generator and the peer together; figures are noisy, medians are kept',
  );
}

// An interrupted run still stops what it started: the PostgreSQL server would outlive us (the
// gateway process and its engine workers exit on their own when this process goes away).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: stopping the benchmark's PostgreSQL cluster`);
    void stopAllClusters().finally(() => process.exit(130));
  });
}

let failed = false;
async function attempt(bench: Bench, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    failed = true;
    report.problem(
      `${bench} did not complete: ${err instanceof Error ? err.message : String(err)}`,
    );
    if (err instanceof Error && err.stack) console.error(err.stack);
  }
}

// Benchmarks 1 and 2: the big data directory (TPC-H + citizens at full size).
const bigData = () =>
  prepareGatewayData({ name: `sf${scale}-citizens${citizens}`, tpchScale: scale, citizens });

if (only.has('tpch') || only.has('peer')) {
  const t = performance.now();
  const big = await bigData();
  console.log(
    `data: ${path.relative(process.cwd(), big.dataDir)} ready in ${fmtMs(performance.now() - t)} ms${big.prepMs ? ' (generated now; cached for later runs)' : ' (cached)'}`,
  );
  const gateway = await GatewayProcess.start({ dataDir: big.dataDir, ...gatewayConfig });
  console.log(`gateway started in ${fmtMs(gateway.startMs)} ms at ${gateway.url}`);
  try {
    if (only.has('tpch')) {
      await attempt('tpch', async () => {
        const direct = await DirectDuckDB.open(big.dbPath, sized);
        const access = await InProcessAccess.open(big.dataDir);
        const work = await mkdtemp(path.join(BENCH_DIR, 'pool-'));
        const pool = await EnginePool.create({
          dbPath: big.dbPath,
          workers: 1,
          threads: sized.threads,
          memoryLimit: sized.memoryLimit,
          tempDir: path.join(work, 'tmp'),
          exportDir: path.join(work, 'exports'),
          timeoutMs: gatewayConfig.queryTimeoutMs,
          dataCatalog: DATA_CATALOG,
        });
        try {
          await runTpchOverhead(report, {
            gateway,
            pool,
            direct,
            access,
            tpchScale: scale,
            citizens,
            runs,
            command: commandFor('tpch'),
          });
        } finally {
          await pool.close();
          direct.close();
          await access.close();
          await rm(work, { recursive: true, force: true });
        }
      });
    }
    if (only.has('peer')) {
      await attempt('peer', async () => {
        await runPeer(report, {
          gateway,
          csv: await citizensCsv(citizens),
          citizens,
          runs,
          port: pgPort,
          command: commandFor('peer'),
        });
      });
    }
  } finally {
    await gateway.stop();
  }
}

// Benchmarks 3 and 4: the shipped demo data (100,000 citizens), plus a catalog with TPC-H for
// planning Bob's TPC-H queries.
if (only.has('load') || only.has('stages')) {
  const demo = await prepareGatewayData({ name: 'demo' });
  const gateway = await GatewayProcess.start({ dataDir: demo.dataDir, ...gatewayConfig });
  console.log('');
  console.log(`demo gateway started in ${fmtMs(gateway.startMs)} ms at ${gateway.url}`);
  try {
    if (only.has('load')) {
      await attempt('load', () =>
        runLoad(report, {
          gateway,
          citizens: 100_000,
          seconds,
          levels: [1, 8, 32],
          command: commandFor('load'),
        }),
      );
    }
    if (only.has('stages')) {
      await attempt('stages', async () => {
        const planData = await bigData();
        const planAccess = await InProcessAccess.open(planData.dataDir);
        try {
          await runStages(report, {
            planAccess,
            gateway,
            dataDir: demo.dataDir,
            dbPath: demo.dbPath,
            threads: sized.threads,
            memoryLimit: sized.memoryLimit,
            quick,
            command: commandFor('stages'),
          });
        } finally {
          await planAccess.close();
        }
      });
    }
  } finally {
    await gateway.stop();
  }
}

report.print(machine);
const file = path.join(BENCH_DIR, 'results.json');
await report.write(file, machine, {
  only: [...only],
  quick,
  runs,
  seconds,
  scale,
  citizens,
  ...gatewayConfig,
});
console.log(
  `wrote ${path.relative(process.cwd(), file)}; whole run ${fmtMs((performance.now() - started) / 1000)} s`,
);
process.exit(failed ? 1 : 0);
