import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { ensureDemoData } from '../datasets/seed.ts';
import { EnginePool } from '../sandbox/engine-pool.ts';
import { AccessResolver } from './access.ts';
import { createAuthenticator } from './auth.ts';
import type { Config } from './config.ts';
import { demoControlState } from './demo-control.ts';
import { FileStore } from './file-store.ts';
import { ledgerDir } from './ledger/cli.ts';
import { Ledger } from './ledger/ledger.ts';
import { QueryService } from './query-service.ts';
import { QuotaMeter } from './quota.ts';
import type { Services } from './services.ts';
import { Telemetry } from './telemetry.ts';
import { TraceStore } from './trace-store.ts';

export const DATA_CATALOG = 'sluice_data';
export const LEDGER_ORIGIN = 'sluice/usage-record';

export interface Running extends Services {
  close(): Promise<void>;
}

/**
 * Opens everything the gateway needs from the data directory, creating and seeding the
 * demo on first start: datasets, control-plane store, usage record, engine workers.
 */
export async function startServices(config: Config): Promise<Running> {
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
    ...(config.soloWorkerThreads > 0 ? { soloThreads: config.soloWorkerThreads } : {}),
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
  const telemetry = Telemetry.start();
  const ledger = await Ledger.open({ dir: ledgerDir(config.dataDir), origin: LEDGER_ORIGIN });
  const quotas = await quotasFromRecord(ledger);
  const traces = await TraceStore.open(ledgerDir(config.dataDir));
  const queries = new QueryService({
    store,
    access,
    engine,
    quotas,
    timeoutMs: config.queryTimeoutMs,
  });
  return {
    config,
    store,
    auth,
    recorder: ledger,
    ledger,
    engine,
    queries,
    telemetry,
    traces,
    async close() {
      await engine.close();
      await ledger.close();
      await traces.close();
      await telemetry.flush();
      await store.close();
    },
  };
}

/** Today's spent export quotas, rebuilt from the usage record so a restart forgets nothing. */
async function quotasFromRecord(ledger: Ledger): Promise<QuotaMeter> {
  const quotas = new QuotaMeter();
  const now = new Date();
  const from = `${now.toISOString().slice(0, 10)}T00:00:00.000Z`;
  let cursor: string | null = null;
  do {
    const page = await ledger.query({ decision: 'allow', from }, cursor, 1000);
    for (const record of page.records) {
      const agreement = record.agreement;
      const rows = record.rows;
      if (typeof agreement === 'string' && typeof rows === 'number' && rows > 0) {
        quotas.add(QuotaMeter.key(agreement, now), rows);
      }
    }
    cursor = page.next;
  } while (cursor !== null);
  return quotas;
}
