import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { signDemoToken } from '../../gateway/auth.ts';
import { loadConfig } from '../../gateway/config.ts';
import { ledgerDir } from '../../gateway/ledger/cli.ts';
import { Ledger } from '../../gateway/ledger/ledger.ts';
import { LEDGER_ORIGIN } from '../../gateway/start.ts';

/**
 * Kill -9 the whole gateway under load: every request that got an answer must be in the
 * usage record afterwards, and the record must still verify.
 */
const root = path.resolve(import.meta.dirname, '../..');
let dataDir: string;
let gateway: ChildProcess | undefined;

afterAll(async () => {
  gateway?.kill('SIGKILL');
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function startGateway(): Promise<string> {
  gateway = spawn(process.execPath, ['gateway/main.ts'], {
    cwd: root,
    env: {
      PATH: process.env.PATH,
      TZ: 'UTC',
      SLUICE_DATA_DIR: dataDir,
      PORT: '0',
      SLUICE_DEMO_TPCH: '0.01',
      SLUICE_WORKERS: '1',
      SLUICE_WORKER_THREADS: '1',
      SLUICE_WORKER_MEMORY: '1GB',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    gateway!.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const url = /ready on (http:\/\/[^\s"]+)/.exec(out)?.[1];
      if (url) resolve(url);
    });
    gateway!.on('exit', (code) => reject(new Error(`gateway exited with ${code}`)));
  });
}

describe('a gateway killed under load', () => {
  it('loses no record of an answered request', async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'sluice-crash-'));
    await symlink(inject('demoDbPath'), path.join(dataDir, 'datasets.duckdb'));
    const url = await startGateway();
    const config = loadConfig({}, { dataDir });
    const tokens = {
      alice: await signDemoToken(config, 'alice'),
      bob: await signDemoToken(config, 'bob'),
    };
    const requests = [
      { user: 'alice', sql: 'SELECT district, count(*) AS n FROM citizens GROUP BY district' },
      { user: 'alice', sql: 'SELECT phone FROM citizens' },
      { user: 'bob', sql: 'SELECT count(*) AS n FROM airports' },
      { user: 'bob', sql: 'SELECT count(*) FROM citizens' },
    ] as const;
    const answered: string[] = [];
    let stop = false;
    const client = async (n: number) => {
      for (let i = n; !stop; i++) {
        const r = requests[i % requests.length]!;
        try {
          const res = await fetch(`${url}/v1/query`, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${tokens[r.user]}`,
              'content-type': 'application/json',
            },
            body: JSON.stringify({ sql: r.sql }),
          });
          await res.arrayBuffer();
          answered.push(res.headers.get('x-sluice-trace-id')!);
        } catch {
          return; // the gateway is gone
        }
      }
    };
    const clients = Array.from({ length: 8 }, (_, n) => client(n));
    await new Promise((r) => setTimeout(r, 1500));
    gateway!.kill('SIGKILL');
    stop = true;
    await Promise.all(clients);
    expect(answered.length).toBeGreaterThan(20);

    const ledger = await Ledger.open({ dir: ledgerDir(dataDir), origin: LEDGER_ORIGIN });
    try {
      const recorded = new Set<string>();
      for (let seq = 0; seq < ledger.size; seq++) {
        recorded.add(String((await ledger.get(seq)).traceId));
      }
      const missing = answered.filter((t) => !recorded.has(t));
      expect(missing).toEqual([]);
      expect(await ledger.verify()).toMatchObject({ ok: true, size: ledger.size });
    } finally {
      await ledger.close();
    }
  });
});
