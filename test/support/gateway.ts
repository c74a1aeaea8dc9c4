import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { inject } from 'vitest';
import { ensureDemoData } from '../../datasets/seed.ts';
import { buildApp } from '../../gateway/app.ts';
import { signDemoToken } from '../../gateway/auth.ts';
import { type Config, loadConfig } from '../../gateway/config.ts';
import { demoControlState } from '../../gateway/demo-control.ts';
import { type Running, startServices } from '../../gateway/start.ts';
import type { ControlState } from '../../gateway/store.ts';

export interface TestGateway {
  readonly app: FastifyInstance;
  readonly services: Running;
  readonly config: Config;
  token(user: string): Promise<string>;
  /** Authorization header for a demo user. */
  as(user: string): Promise<{ authorization: string }>;
  close(): Promise<void>;
}

/**
 * A gateway over the demo datasets generated once by global-setup, with its own data
 * directory (store, keys, usage record) so test files never share state.
 */
export async function startTestGateway(
  overrides: Partial<Parameters<typeof loadConfig>[1]> = {},
  opts: { control?: (state: ControlState) => ControlState } = {},
): Promise<TestGateway> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'sluice-gw-'));
  await mkdir(dataDir, { recursive: true });
  await symlink(inject('demoDbPath'), path.join(dataDir, 'datasets.duckdb'));
  if (opts.control) {
    // Seed a changed control plane (users, agreements) before the gateway opens it.
    const { entries } = await ensureDemoData({ dataDir, tpchScale: 0.01 });
    const state = opts.control(await demoControlState(entries));
    await writeFile(path.join(dataDir, 'control.json'), JSON.stringify(state));
  }
  const config = loadConfig(
    {},
    {
      dataDir,
      workers: 1,
      workerThreads: 1,
      soloWorkerThreads: 0,
      workerMemory: '1GB',
      demoTpchScale: 0.01,
      ...overrides,
    },
  );
  const services = await startServices(config);
  const app = await buildApp({ services });
  const tokens = new Map<string, string>();
  const token = async (user: string) => {
    let t = tokens.get(user);
    if (!t) {
      t = await signDemoToken(config, user);
      tokens.set(user, t);
    }
    return t;
  };
  return {
    app,
    services,
    config,
    token,
    as: async (user) => ({ authorization: `Bearer ${await token(user)}` }),
    async close() {
      await app.close();
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
