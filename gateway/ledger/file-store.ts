/**
 * The embedded ledger store: one append-only file of newline-delimited canonical JSON
 * (`records.jsonl`), one of checkpoints (`checkpoints.jsonl`), and an in-memory index rebuilt
 * at open (byte offsets for reads; posting lists per filter field for queries).
 *
 * Durability: a batch is one write() of all its lines to a file opened with O_DSYNC, so the
 * write returns only once the data is on disk (one trip through the thread pool instead of a
 * write and an fdatasync); the append resolves only after it. A crash can leave a partial last
 * line, which was never acknowledged; `load` cuts it away and reports its size. Nothing else is
 * ever rewritten.
 */
import { constants } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { lstat, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import canonicalize from 'canonicalize';
import { SluiceError } from '../errors.ts';
import type { Checkpoint } from './checkpoint.ts';
import { parseCheckpoint } from './checkpoint.ts';
import { scanLines } from './lines.ts';
import type { LedgerRecord } from './record.ts';
import type {
  IndexedField,
  LedgerFilter,
  LedgerStore,
  LoadReport,
  SeqPage,
  StoredRecord,
} from './store.ts';
import { INDEXED_FIELDS, indexedValues } from './store.ts';
import { LedgerIntegrityError } from './verify.ts';

export const RECORDS_FILE = 'records.jsonl';
export const CHECKPOINTS_FILE = 'checkpoints.jsonl';

const NEWLINE = 0x0a;
/** Appends that are durable when write() returns (see the header). */
const APPEND_DURABLY =
  constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_DSYNC;
const CHECKPOINT_TAIL_BYTES = 64 * 1024;

function postingKey(field: IndexedField, value: string): string {
  return `${field}\u0000${value}`;
}

/** First index i in [0, n) with arr[i] >= x (arr sorted ascending), or n. */
function lowerBound(arr: ArrayLike<number>, n: number, x: number): number {
  let lo = 0;
  let hi = n;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (arr[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function contains(sorted: readonly number[], x: number): boolean {
  const i = lowerBound(sorted, sorted.length, x);
  return i < sorted.length && sorted[i] === x;
}

function grow<T extends Float64Array | Uint32Array>(
  arr: T,
  need: number,
  make: (n: number) => T,
): T {
  if (arr.length >= need) return arr;
  const next = make(Math.max(need, arr.length * 2, 1024));
  next.set(arr);
  return next;
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates `path` if missing (and makes its directory entry durable); refuses anything but a regular file. */
async function ensureRegularFile(dir: string, path: string, mode: number): Promise<void> {
  try {
    const st = await lstat(path);
    if (!st.isFile()) {
      throw new LedgerIntegrityError({
        kind: 'malformed',
        message: `${path} is not a regular file`,
      });
    }
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const fh = await open(path, 'a', mode);
  await fh.close();
  await syncDir(dir);
}

export class FileLedgerStore implements LedgerStore {
  readonly dir: string;
  readonly recordsPath: string;
  readonly checkpointsPath: string;
  #appendFh: FileHandle | undefined;
  #readFh: FileHandle | undefined;
  #checkpointFh: FileHandle | undefined;
  #latestCheckpoint: Checkpoint | undefined;
  #checkpointWrites: Promise<void> = Promise.resolve();
  #broken: unknown;
  #closed = false;
  #size = 0;
  #fileBytes = 0;
  #offsets = new Float64Array(1024);
  #lengths = new Uint32Array(1024);
  #atMs = new Float64Array(1024);
  readonly #postings = new Map<string, number[]>();

  private constructor(dir: string) {
    this.dir = dir;
    this.recordsPath = join(dir, RECORDS_FILE);
    this.checkpointsPath = join(dir, CHECKPOINTS_FILE);
  }

  static async open(dir: string): Promise<FileLedgerStore> {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const store = new FileLedgerStore(dir);
    // Records name users and carry their SQL, literals included: readable by the service only.
    await ensureRegularFile(dir, store.recordsPath, 0o600);
    await ensureRegularFile(dir, store.checkpointsPath, 0o644);
    return store;
  }

  /** Entries indexed (durable and sound). */
  get size(): number {
    return this.#size;
  }

  /** Bytes of the records file that hold durable entries. */
  get durableBytes(): number {
    return this.#fileBytes;
  }

  async load(visit: (bytes: Uint8Array) => LedgerRecord | undefined): Promise<LoadReport> {
    if (this.#readFh !== undefined) throw new Error('FileLedgerStore.load called twice');
    this.#readFh = await open(this.recordsPath, 'r');
    let sound = true;
    const scan = await scanLines(this.#readFh, (line, offset) => {
      const record = visit(line);
      if (record === undefined) sound = false;
      if (sound && record !== undefined) this.#index(record, offset, line.length);
      return undefined;
    });
    if (scan.tailBytes > 0) await this.#truncate(this.recordsPath, scan.completeBytes);
    this.#fileBytes = scan.completeBytes;
    this.#latestCheckpoint = await this.#loadLatestCheckpoint();
    this.#appendFh = await open(this.recordsPath, APPEND_DURABLY);
    this.#checkpointFh = await open(this.checkpointsPath, 'a');
    return { tornTailBytes: scan.tailBytes };
  }

  async append(batch: readonly StoredRecord[]): Promise<void> {
    if (this.#broken !== undefined) throw this.#broken;
    const fh = this.#appendFh;
    if (fh === undefined || this.#closed) throw new Error('the ledger store is not open');
    let total = 0;
    batch.forEach((r, i) => {
      if (r.seq !== this.#size + i)
        throw new Error('FileLedgerStore.append: seqs are not contiguous');
      total += r.bytes.length + 1;
    });
    const buf = Buffer.allocUnsafe(total);
    let pos = 0;
    for (const r of batch) {
      buf.set(r.bytes, pos);
      pos += r.bytes.length;
      buf[pos++] = NEWLINE;
    }
    try {
      let written = 0;
      while (written < total) {
        const { bytesWritten } = await fh.write(buf, written, total - written);
        written += bytesWritten;
      }
    } catch (err) {
      // The file may now end in a partial batch: never write after it; reopening cuts it away.
      this.#broken = err;
      throw err;
    }
    let offset = this.#fileBytes;
    for (const r of batch) {
      this.#index(r.record, offset, r.bytes.length);
      offset += r.bytes.length + 1;
    }
    this.#fileBytes = offset;
  }

  async read(seq: number): Promise<Uint8Array | undefined> {
    if (!(seq >= 0 && seq < this.#size) || this.#readFh === undefined) return undefined;
    const len = this.#lengths[seq]!;
    const buf = Buffer.allocUnsafe(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await this.#readFh.read(buf, got, len - got, this.#offsets[seq]! + got);
      if (bytesRead === 0)
        throw new SluiceError(
          'RECORD_UNAVAILABLE',
          'the usage record file is shorter than its index',
        );
      got += bytesRead;
    }
    return buf;
  }

  async query(filter: LedgerFilter, before: number | undefined, limit: number): Promise<SeqPage> {
    const n = this.#size;
    let hi = Math.min(before ?? n, n);
    let lo = 0;
    // `at` never decreases along the log (the ledger assigns it so), so time bounds are ranges.
    if (filter.from !== undefined) lo = lowerBound(this.#atMs, n, Date.parse(filter.from));
    if (filter.to !== undefined)
      hi = Math.min(hi, lowerBound(this.#atMs, n, Date.parse(filter.to)));
    const lists: number[][] = [];
    for (const field of INDEXED_FIELDS) {
      const value = filter[field];
      if (value === undefined) continue;
      const list = this.#postings.get(postingKey(field, value));
      if (list === undefined) return { seqs: [], next: null };
      lists.push(list);
    }
    lists.sort((a, b) => a.length - b.length);
    const out: number[] = [];
    if (lists.length === 0) {
      for (let s = hi - 1; s >= lo && out.length <= limit; s--) out.push(s);
    } else {
      const [first, ...rest] = lists as [number[], ...number[][]];
      for (let i = lowerBound(first, first.length, hi) - 1; i >= 0 && out.length <= limit; i--) {
        const s = first[i]!;
        if (s < lo) break;
        if (rest.every((l) => contains(l, s))) out.push(s);
      }
    }
    const more = out.length > limit;
    if (more) out.pop();
    return { seqs: out, next: more ? out[out.length - 1]! : null };
  }

  async scan(visit: (bytes: Uint8Array) => void, count: number): Promise<void> {
    const n = Math.min(count, this.#size);
    if (n === 0) return;
    const limitBytes = this.#offsets[n - 1]! + this.#lengths[n - 1]! + 1;
    const fh = await open(this.recordsPath, 'r');
    try {
      await scanLines(
        fh,
        (line) => {
          visit(line);
          return undefined;
        },
        limitBytes,
      );
    } finally {
      await fh.close();
    }
  }

  saveCheckpoint(checkpoint: Checkpoint): Promise<void> {
    const write = async (): Promise<void> => {
      const fh = this.#checkpointFh;
      if (fh === undefined || this.#closed) throw new Error('the ledger store is not open');
      const line = Buffer.from(`${canonicalize(checkpoint)}\n`);
      let written = 0;
      while (written < line.length) {
        written += (await fh.write(line, written, line.length - written)).bytesWritten;
      }
      await fh.datasync();
      if (this.#latestCheckpoint === undefined || checkpoint.size >= this.#latestCheckpoint.size) {
        this.#latestCheckpoint = checkpoint;
      }
    };
    const result = this.#checkpointWrites.then(write);
    this.#checkpointWrites = result.catch(() => undefined);
    return result;
  }

  async latestCheckpoint(): Promise<Checkpoint | undefined> {
    return this.#latestCheckpoint;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#checkpointWrites;
    for (const fh of [this.#appendFh, this.#readFh, this.#checkpointFh]) await fh?.close();
  }

  #index(record: LedgerRecord, offset: number, length: number): void {
    const seq = this.#size;
    this.#offsets = grow(this.#offsets, seq + 1, (k) => new Float64Array(k));
    this.#lengths = grow(this.#lengths, seq + 1, (k) => new Uint32Array(k));
    this.#atMs = grow(this.#atMs, seq + 1, (k) => new Float64Array(k));
    this.#offsets[seq] = offset;
    this.#lengths[seq] = length;
    this.#atMs[seq] = Date.parse(record.at);
    for (const field of INDEXED_FIELDS) {
      for (const value of indexedValues(record, field)) {
        const key = postingKey(field, value);
        const list = this.#postings.get(key);
        if (list === undefined) this.#postings.set(key, [seq]);
        else list.push(seq);
      }
    }
    this.#size = seq + 1;
  }

  async #truncate(path: string, length: number): Promise<void> {
    const fh = await open(path, 'r+');
    try {
      await fh.truncate(length);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /** The last complete line of the checkpoints file; cuts away a torn last line. */
  async #loadLatestCheckpoint(): Promise<Checkpoint | undefined> {
    const latest = await readLatestCheckpoint(this.checkpointsPath);
    if (latest.tornTailBytes > 0) await this.#truncate(this.checkpointsPath, latest.completeBytes);
    return latest.checkpoint;
  }
}

export interface LatestCheckpoint {
  readonly checkpoint: Checkpoint | undefined;
  /** Bytes after the last newline: a checkpoint write cut short. */
  readonly tornTailBytes: number;
  readonly completeBytes: number;
}

/**
 * Reads the last complete checkpoint of a checkpoints file without changing it. Throws
 * LedgerIntegrityError when that line is not a checkpoint.
 */
export async function readLatestCheckpoint(path: string): Promise<LatestCheckpoint> {
  const fh = await open(path, 'r');
  let text: string;
  let start: number;
  try {
    const { size } = await fh.stat();
    start = Math.max(0, size - CHECKPOINT_TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    await fh.read(buf, 0, buf.length, start);
    text = buf.toString('utf8');
  } finally {
    await fh.close();
  }
  const lastNewline = text.lastIndexOf('\n');
  const completeBytes = start + lastNewline + 1;
  const tornTailBytes = start + text.length - completeBytes;
  const lines = text
    .slice(0, lastNewline + 1)
    .split('\n')
    .filter((l) => l.length > 0);
  const last = lines[lines.length - 1];
  if (last === undefined) {
    if (start > 0) {
      throw new LedgerIntegrityError({
        kind: 'malformed',
        message: 'the checkpoints file is unreadable',
      });
    }
    return { checkpoint: undefined, tornTailBytes, completeBytes };
  }
  try {
    return { checkpoint: parseCheckpoint(last), tornTailBytes, completeBytes };
  } catch {
    throw new LedgerIntegrityError({
      kind: 'malformed',
      message: 'the latest stored checkpoint is unreadable',
    });
  }
}
