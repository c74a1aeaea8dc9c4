/**
 * Benchmark 3, throughput under load: autocannon on loopback against the gateway process,
 * small policy queries as Alice (aggregates over the row-filtered, masked `citizens`, cycling
 * through a few texts) at 1, 8 and 32 concurrent connections, each for a fixed time. Every
 * answer is durably in the usage record before it leaves (the gateway's own rule); afterwards
 * the record's size, as the regulator's verify route recomputes it, must have grown by at least
 * the number of answers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { LOAD_QUERIES } from './citizen-queries.ts';
import type { GatewayProcess } from './gateway-process.ts';
import type { Report } from './report.ts';
import { fmtInt } from './stats.ts';

export interface LoadOptions {
  readonly gateway: GatewayProcess;
  readonly citizens: number;
  readonly seconds: number;
  readonly levels: readonly number[];
  readonly command: string;
}

const TICKS_PER_SECOND = 100;

/** user + system CPU seconds of one process, from /proc (Linux); 0 when unreadable. */
function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Direct children of a process (the engine workers of the gateway), from /proc. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
      if (text) out.push(...text.split(' ').map(Number));
    }
  } catch {
    // not Linux, or the process is gone: no per-process CPU figures
  }
  return out;
}

/** CPU seconds so far of the gateway, its engine workers, and this (load generator) process. */
function cpuSnapshot(gatewayPid: number | undefined): {
  gateway: number;
  engines: number;
  client: number;
} {
  if (gatewayPid === undefined) return { gateway: 0, engines: 0, client: 0 };
  const usage = process.cpuUsage();
  return {
    gateway: cpuSeconds(gatewayPid),
    engines: childrenOf(gatewayPid).reduce((s, pid) => s + cpuSeconds(pid), 0),
    client: (usage.user + usage.system) / 1e6,
  };
}

interface Level {
  readonly connections: number;
  readonly requests: number;
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
  readonly non2xx: number;
  readonly errors: number;
  /** CPU milliseconds per answered query, by process. */
  readonly cpuMsPerQuery: { gateway: number; engines: number; client: number };
}

/** The load test's requests: each small policy query as alice, for autocannon to cycle through. */
export function loadRequests(gateway: GatewayProcess) {
  return LOAD_QUERIES.map((sql) => ({
    method: 'POST' as const,
    path: '/v1/query',
    headers: {
      authorization: `Bearer ${gateway.tokens.alice}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ sql }),
  }));
}

export async function runLoad(report: Report, opts: LoadOptions): Promise<void> {
  console.log('');
  console.log(
    `## 3. Throughput under load: ${LOAD_QUERIES.length} small policy queries as alice on ${opts.citizens.toLocaleString('en-US')} citizens, autocannon, ${opts.seconds} s per level, every answer recorded durably`,
  );
  const requests = loadRequests(opts.gateway);
  // Warm every worker's caches and the planner's JIT before the first level is timed.
  for (let i = 0; i < 20; i++)
    await opts.gateway.queryOk('alice', LOAD_QUERIES[i % LOAD_QUERIES.length]!);

  const before = await opts.gateway.recordSize();
  const levels: Level[] = [];
  console.log(
    'clients | queries/s | p50 ms | p99 ms | answers | non-2xx | errors | CPU ms per query: gateway, engine workers, load generator',
  );
  for (const connections of opts.levels) {
    const cpu0 = cpuSnapshot(opts.gateway.pid);
    const r = await autocannon({
      url: opts.gateway.url,
      connections,
      duration: opts.seconds,
      pipelining: 1,
      timeout: 30,
      requests,
    });
    const cpu1 = cpuSnapshot(opts.gateway.pid);
    const per = (k: 'gateway' | 'engines' | 'client') =>
      ((cpu1[k] - cpu0[k]) * 1000) / Math.max(1, r['2xx']);
    const level: Level = {
      connections,
      requests: r['2xx'],
      perSecond: r['2xx'] / r.duration,
      p50: r.latency.p50,
      p99: r.latency.p99,
      non2xx: r.non2xx,
      errors: r.errors,
      cpuMsPerQuery: { gateway: per('gateway'), engines: per('engines'), client: per('client') },
    };
    levels.push(level);
    console.log(
      `${String(connections).padStart(7)} | ${fmtInt(level.perSecond).padStart(9)} | ${level.p50.toFixed(1).padStart(6)} | ${level.p99.toFixed(1).padStart(6)} | ${fmtInt(level.requests).padStart(7)} | ${String(level.non2xx).padStart(7)} | ${String(level.errors).padStart(6)} | ${level.cpuMsPerQuery.gateway.toFixed(2)}, ${level.cpuMsPerQuery.engines.toFixed(2)}, ${level.cpuMsPerQuery.client.toFixed(2)}`,
    );
    if (level.non2xx > 0 || level.errors > 0) {
      report.problem(
        `load at ${connections} clients: ${level.non2xx} non-2xx answers and ${level.errors} errors`,
      );
    }
  }
  const after = await opts.gateway.recordSize();
  const answered = levels.reduce((n, l) => n + l.requests + l.non2xx, 0);
  const grew = after.size - before.size;
  console.log(
    `usage record: ${fmtInt(grew)} new entries for ${fmtInt(answered)} answers; verify ok: ${after.ok}`,
  );
  if (!after.ok || grew < answered) {
    report.problem(
      `load: the usage record grew by ${grew} for ${answered} answers (ok=${after.ok})`,
    );
  }
  report.detail('load', {
    citizens: opts.citizens,
    seconds: opts.seconds,
    levels,
    recordGrew: grew,
  });

  for (const l of levels) {
    const top = l.connections === Math.max(...opts.levels);
    report.add({
      id: `load.qps.c${l.connections}`,
      name: `Load: policy queries/s at ${l.connections} client${l.connections > 1 ? 's' : ''}`,
      value: l.perSecond,
      unit: 'queries/s',
      ...(top ? { target: { op: '>=' as const, limit: 500 } } : {}),
      command: opts.command,
    });
    report.add({
      id: `load.p50.c${l.connections}`,
      name: `Load: p50 latency at ${l.connections} client${l.connections > 1 ? 's' : ''}`,
      value: l.p50,
      unit: 'ms',
      command: opts.command,
    });
    report.add({
      id: `load.p99.c${l.connections}`,
      name: `Load: p99 latency at ${l.connections} client${l.connections > 1 ? 's' : ''}`,
      value: l.p99,
      unit: 'ms',
      target: { op: '<', limit: 50 },
      command: opts.command,
    });
  }
}
