/**
 * The in-process side of the benchmarks: the planner's inputs as the gateway builds them
 * (store, access resolver, scopes of Alice and Bob), and a plain DuckDB instance on the same
 * dataset file, configured like one engine worker (threads, memory limit), for baselines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ensureDemoData } from '../datasets/seed.ts';
import { type Access, AccessResolver } from '../gateway/access.ts';
import { demoControlState } from '../gateway/demo-control.ts';
import { FileStore } from '../gateway/file-store.ts';
import type { Principal } from '../gateway/principal.ts';
import { DATA_CATALOG } from '../gateway/start.ts';
import type { Store } from '../gateway/store.ts';
import { planQuery } from '../policies/planner.ts';
import type { QueryPlan } from '../policies/policy-types.ts';

export const ALICE: Principal = {
  subject: 'alice',
  name: 'Alice',
  role: 'researcher',
  org: 'Fudan University',
  restricted: false,
};
export const BOB: Principal = {
  subject: 'bob',
  name: 'Bob',
  role: 'researcher',
  org: 'Independent',
  restricted: false,
};

/** The demo control plane over a data directory's catalog, in a temporary store file. */
export class InProcessAccess {
  readonly resolver: AccessResolver;
  readonly #store: FileStore;
  readonly #dir: string;

  private constructor(store: FileStore, dir: string) {
    this.#store = store;
    this.#dir = dir;
    this.resolver = new AccessResolver(store, {
      dataCatalog: DATA_CATALOG,
      maxRowsUnconditional: 100_000,
    });
  }

  static async open(dataDir: string): Promise<InProcessAccess> {
    const { entries } = await ensureDemoData({ dataDir });
    const dir = await mkdtemp(path.join(tmpdir(), 'sluice-bench-store-'));
    const store = await FileStore.open(path.join(dir, 'control.json'), () =>
      demoControlState(entries),
    );
    return new InProcessAccess(store, dir);
  }

  get store(): Store {
    return this.#store;
  }

  forQuery(principal: Principal): Promise<Access> {
    return this.resolver.forQuery(principal, undefined);
  }

  /**
   * Plans as the gateway does for `who`: under their scope and rows-per-answer cap (the
   * gateway's plan cache aside), with that cap as `maxRows` for an engine pool.
   */
  async gatewayPlanner(
    who: Principal,
  ): Promise<{ plan: (sql: string) => QueryPlan; maxRows: number }> {
    const { scope, maxRowsPerAnswer } = await this.forQuery(who);
    return {
      plan: (sql) => planQuery(sql, scope, { maxRows: maxRowsPerAnswer }),
      maxRows: maxRowsPerAnswer,
    };
  }

  async close(): Promise<void> {
    await this.#store.close();
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/**
 * DuckDB in this process with the dataset file attached read-only as `sluice_data` (the
 * catalog the gateway's rendered SQL names) and made the default, so unrendered SQL finds
 * the tables too. Sized like one engine worker.
 */
export class DirectDuckDB {
  readonly conn: DuckDBConnection;
  readonly #instance: DuckDBInstance;

  private constructor(instance: DuckDBInstance, conn: DuckDBConnection) {
    this.#instance = instance;
    this.conn = conn;
  }

  static async open(
    dbPath: string,
    opts: { threads: number; memoryLimit: string },
  ): Promise<DirectDuckDB> {
    const instance = await DuckDBInstance.create(':memory:', {
      threads: String(opts.threads),
      memory_limit: opts.memoryLimit,
    });
    const conn = await instance.connect();
    await conn.run(`ATTACH '${dbPath.replaceAll("'", "''")}' AS ${DATA_CATALOG} (READ_ONLY)`);
    await conn.run(`USE ${DATA_CATALOG}`);
    await conn.run("SET TimeZone = 'UTC'");
    return new DirectDuckDB(instance, conn);
  }

  /** Runs `sql` and converts every row to JSON-safe values, as an answer needs. */
  async rows(sql: string): Promise<unknown[][]> {
    return (await this.conn.runAndReadAll(sql)).getRowsJson() as unknown[][];
  }

  close(): void {
    this.conn.closeSync();
    this.#instance.closeSync();
  }
}
