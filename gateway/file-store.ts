import { open, readFile, rename } from 'node:fs/promises';
import type { DatasetEntry, DatasetStatus } from '../datasets/catalog-types.ts';
import { SluiceError } from './errors.ts';
import type { AgreementRecord, ControlState, Store, UserRecord } from './store.ts';

/**
 * The embedded control-plane store: the whole state in memory, persisted as one JSON file
 * replaced atomically (write, fsync, rename) on every change. Fine for one gateway; a
 * multi-node deployment swaps in a PostgreSQL store behind the same interface.
 */
export class FileStore implements Store {
  readonly #file: string;
  #state: ControlState;
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: string, state: ControlState) {
    this.#file = file;
    this.#state = state;
  }

  /** Opens the store file; when it does not exist, writes `seed()` first. */
  static async open(file: string, seed: () => Promise<ControlState>): Promise<FileStore> {
    let state: ControlState;
    try {
      state = JSON.parse(await readFile(file, 'utf8')) as ControlState;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      state = await seed();
      await writeAtomically(file, state);
    }
    return new FileStore(file, state);
  }

  async getUser(subject: string): Promise<UserRecord | undefined> {
    return this.#state.users.find((u) => u.subject === subject);
  }

  async listAgreements(user: string): Promise<readonly AgreementRecord[]> {
    return this.#state.agreements.filter((a) => a.user === user);
  }

  async getAgreement(id: string): Promise<AgreementRecord | undefined> {
    return this.#state.agreements.find((a) => a.id === id);
  }

  async listDatasets(): Promise<readonly DatasetEntry[]> {
    return this.#state.datasets;
  }

  async getDataset(id: string): Promise<DatasetEntry | undefined> {
    return this.#state.datasets.find((d) => d.id === id);
  }

  async setDatasetStatus(id: string, status: DatasetStatus): Promise<void> {
    if (!this.#state.datasets.some((d) => d.id === id)) {
      throw new SluiceError('NOT_FOUND', `dataset ${id} does not exist`);
    }
    await this.#update((s) => ({
      ...s,
      datasets: s.datasets.map((d) => (d.id === id ? { ...d, status } : d)),
    }));
  }

  async setUserStatus(subject: string, status: UserRecord['status']): Promise<void> {
    if (!this.#state.users.some((u) => u.subject === subject)) {
      throw new SluiceError('NOT_FOUND', `user ${subject} does not exist`);
    }
    await this.#update((s) => ({
      ...s,
      users: s.users.map((u) => (u.subject === subject ? { ...u, status } : u)),
    }));
  }

  async close(): Promise<void> {
    await this.#writing;
  }

  /** Applies a change only once it is on disk, so a failed write leaves state untouched. */
  async #update(change: (state: ControlState) => ControlState): Promise<void> {
    const run = this.#writing.then(async () => {
      const next = change(this.#state);
      await writeAtomically(this.#file, next);
      this.#state = next;
    });
    this.#writing = run.catch(() => {});
    await run;
  }
}

async function writeAtomically(file: string, state: ControlState): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(JSON.stringify(state, null, 2));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}
