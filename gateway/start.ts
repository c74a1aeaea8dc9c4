import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureDemoData } from '../datasets/seed.ts';
import { EnginePool } from '../sandbox/engine-pool.ts';
import { AccessResolver } from './access.ts';
import { createAuthenticator } from './auth.ts';
import type { Config } from './config.ts';
import { demoControlState } from './demo-control.ts';
import { FileStore } from './file-store.ts';
import { QueryService } from './query-service.ts';
import type { Services } from './services.ts';
import type { Recorder } from './usage.ts';

export const DATA_CATALOG = 'sluice_data';

export interface Running extends Services {
  close(): Promise<void>;
}

/**
 * Opens everything the gateway needs from the data directory, creating and seeding the
 * demo on first start: datasets, control-plane store, usage record, engine workers.
 */
export async function startServices(config: Config, recorder?: Recorder): Promise<Running> {
  await mkdir(config.dataDir, { recursive: true, mode: 0o700 });
  const { dbPath, entries } = await ensureDemoData({
    dataDir: config.dataDir,
    ...(config.demoTpchScale ? { tpchScale: config.demoTpchScale } : {}),
  });
  const store = await FileStore.open(path.join(config.dataDir, 'control.json'), () =>
    demoControlState(entries),
  );
  const auth = await createAuthenticator(config);
  const engine = await EnginePool.create({
    dbPath,
    workers: config.workers,
    threads: config.workerThreads,
    memoryLimit: config.workerMemory,
    tempDir: path.join(config.dataDir, 'tmp'),
    exportDir: path.join(config.dataDir, 'exports'),
    timeoutMs: config.queryTimeoutMs,
    dataCatalog: DATA_CATALOG,
  });
  const access = new AccessResolver(store, {
    dataCatalog: DATA_CATALOG,
    maxRowsUnconditional: config.maxRowsUnconditional,
  });
  const queries = new QueryService({ store, access, engine, timeoutMs: config.queryTimeoutMs });
  const usage: Recorder = recorder ?? { append: async () => ({ seq: 0 }) };
  return {
    config,
    store,
    auth,
    recorder: usage,
    engine,
    queries,
    async close() {
      await engine.close();
      await store.close();
    },
  };
}
