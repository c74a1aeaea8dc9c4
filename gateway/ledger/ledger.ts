/**
 * The usage record: an append-only, hash-chained RFC 6962 Merkle log of canonical JSON
 * entries, durable before `append` resolves, with signed checkpoints and proofs.
 *
 * Invariant kept here: an entry is acknowledged (its `append` resolves) only after it is on
 * disk, and once any write fails the ledger acknowledges nothing more until reopened, so the
 * gateway cannot send an answer it failed to record.
 *
 * Group commit: appends that arrive while a write is in flight, or within `groupCommitMs` of
 * the first, go to disk together in one durable (O_DSYNC) write.
 */
import type { JWK } from 'jose';
import { z } from 'zod';
import { isSluiceError, SluiceError } from '../errors.ts';
import type { Checkpoint, CheckpointSigner } from './checkpoint.ts';
import { loadSigner, verifyCheckpointSignature } from './checkpoint.ts';
import { FileLedgerStore } from './file-store.ts';
import type { Hash } from './merkle.ts';
import { hashEqual, leafHash, type MerkleTree, toHex } from './merkle.ts';
import type { LedgerEntry, LedgerRecord } from './record.ts';
import { decodeRecord, encodeRecord, GENESIS_PREV, MAX_ENTRY_BYTES } from './record.ts';
import type { LedgerFilter, LedgerStore, StoredRecord } from './store.ts';
import { INDEXED_FIELDS } from './store.ts';
import type { VerifyResult } from './verify.ts';
import { LedgerIntegrityError, LogChecker } from './verify.ts';

export interface LedgerOptions {
  /** Directory for the file store and the checkpoint keys. */
  readonly dir: string;
  /** Names the log in every checkpoint, e.g. "sluice.example.org/usage". */
  readonly origin: string;
  /** Ed25519 private JWK; default: the key kept in `dir` (created on first open). */
  readonly signingKey?: JWK | undefined;
  /** How long the first append of a batch waits for company; 0 (default) batches only appends that arrive while a write is in flight. */
  readonly groupCommitMs?: number | undefined;
  /** Sign a checkpoint this often when the log has grown (default 30 s; 0: never on a timer). */
  readonly checkpointEveryMs?: number | undefined;
  /** ... and after this many new entries (default 1,000; 0: never by count). */
  readonly checkpointEveryEntries?: number | undefined;
  readonly maxEntryBytes?: number | undefined;
  /** Default: a FileLedgerStore in `dir`. The ledger takes ownership and closes it. */
  readonly store?: LedgerStore | undefined;
}

const optionsSchema = z
  .object({
    dir: z.string().min(1),
    origin: z.string().min(1),
    signingKey: z.record(z.string(), z.unknown()).optional(),
    groupCommitMs: z.number().int().min(0).max(1000).default(0),
    checkpointEveryMs: z.number().int().min(0).default(30_000),
    checkpointEveryEntries: z.number().int().min(0).default(1_000),
    maxEntryBytes: z
      .number()
      .int()
      .min(256)
      .max(64 * MAX_ENTRY_BYTES)
      .default(MAX_ENTRY_BYTES),
    store: z.custom<LedgerStore>((v) => typeof v === 'object' && v !== null).optional(),
  })
  .strict();

export interface AppendResult {
  readonly seq: number;
  /** Hex RFC 6962 leaf hash of the stored bytes. */
  readonly leafHash: string;
}

export interface QueryResult {
  /** Newest first. */
  readonly records: readonly LedgerRecord[];
  /** Pass as `cursor` for the next (older) page; null when there is none. */
  readonly next: string | null;
}

export interface InclusionProof {
  readonly seq: number;
  readonly size: number;
  readonly leafHash: string;
  readonly root: string;
  /** Sibling hashes from the leaf up (RFC 9162 §2.1.3). */
  readonly path: readonly string[];
}

export interface ConsistencyProof {
  readonly from: number;
  readonly to: number;
  readonly fromRoot: string;
  readonly toRoot: string;
  /** RFC 9162 §2.1.4 consistency proof. */
  readonly path: readonly string[];
}

export interface LedgerStats {
  readonly appends: number;
  /** Write + sync rounds; appends / batches is the group-commit factor. */
  readonly batches: number;
  readonly largestBatch: number;
}

interface Pending {
  readonly stored: StoredRecord;
  readonly leaf: Hash;
  readonly resolve: (r: AppendResult) => void;
  readonly reject: (e: unknown) => void;
}

export const DEFAULT_QUERY_LIMIT = 100;
export const MAX_QUERY_LIMIT = 1000;

function unavailable(message: string): SluiceError {
  return new SluiceError('RECORD_UNAVAILABLE', message);
}

/** Our errors pass through; anything else (an fs or driver error) becomes RECORD_UNAVAILABLE. */
function asRecordError(err: unknown, message: string): SluiceError {
  if (isSluiceError(err)) return err;
  const wrapped = unavailable(message);
  wrapped.cause = err;
  return wrapped;
}

function badRequest(message: string): SluiceError {
  return new SluiceError('BAD_REQUEST', message);
}

function isTime(s: unknown): s is string {
  return typeof s === 'string' && !Number.isNaN(Date.parse(s));
}

export class Ledger {
  readonly origin: string;
  /** What opening repaired: the bytes of an unacknowledged partial last write that were cut away. */
  readonly recovery: { readonly tornTailBytes: number };
  readonly #store: LedgerStore;
  readonly #signer: CheckpointSigner;
  readonly #tree: MerkleTree;
  readonly #groupCommitMs: number;
  readonly #checkpointEveryEntries: number;
  readonly #maxEntryBytes: number;
  /** Next seq to hand out; entries in [tree.size, nextSeq) are written or waiting. */
  #nextSeq: number;
  #lastLeafHex: string;
  #lastAtMs: number;
  #pending: Pending[] = [];
  #flushing: Promise<void> | undefined;
  #cancelScheduled: (() => void) | undefined;
  #checkpointTimer: NodeJS.Timeout | undefined;
  #failed: SluiceError | undefined;
  #closed = false;
  #latest: Checkpoint | undefined;
  #checkpointing: Promise<Checkpoint> | undefined;
  #stats = { appends: 0, batches: 0, largestBatch: 0 };

  private constructor(
    opts: z.output<typeof optionsSchema>,
    store: LedgerStore,
    signer: CheckpointSigner,
    checker: LogChecker,
    lastAtMs: number,
    recovery: { tornTailBytes: number },
    latest: Checkpoint | undefined,
  ) {
    this.origin = opts.origin;
    this.recovery = recovery;
    this.#store = store;
    this.#signer = signer;
    this.#tree = checker.tree;
    this.#groupCommitMs = opts.groupCommitMs;
    this.#checkpointEveryEntries = opts.checkpointEveryEntries;
    this.#maxEntryBytes = opts.maxEntryBytes;
    this.#nextSeq = this.#tree.size;
    this.#lastLeafHex =
      this.#tree.size === 0 ? GENESIS_PREV : toHex(this.#tree.leaf(this.#tree.size - 1));
    this.#lastAtMs = lastAtMs;
    this.#latest = latest;
    if (opts.checkpointEveryMs > 0) {
      this.#checkpointTimer = setInterval(() => this.#autoCheckpoint(), opts.checkpointEveryMs);
      this.#checkpointTimer.unref();
    }
  }

  /**
   * Opens (creating if needed) the ledger: reads every entry, rechecks the canonical form, seq
   * order, hash chain and the latest stored checkpoint, and rebuilds the tree and index.
   * Throws LedgerIntegrityError (RECORD_UNAVAILABLE) when the stored log is not sound; a
   * partial last line, which was never acknowledged, is cut away and reported in `recovery`.
   */
  static async open(options: LedgerOptions): Promise<Ledger> {
    const parsed = optionsSchema.safeParse(options);
    if (!parsed.success) throw badRequest('invalid ledger options');
    const opts = parsed.data;
    let signer: CheckpointSigner;
    let store: LedgerStore;
    try {
      signer = await loadSigner(opts.dir, opts.signingKey as JWK | undefined);
      store = opts.store ?? (await FileLedgerStore.open(opts.dir));
    } catch (err) {
      throw asRecordError(err, 'the usage record could not be opened');
    }
    try {
      const checker = new LogChecker();
      let lastAtMs = 0;
      const recovery = await store.load((bytes) => {
        const record = checker.push(bytes);
        if (record !== undefined) lastAtMs = Math.max(lastAtMs, Date.parse(record.at));
        return record;
      });
      const problem = checker.finish();
      if (problem !== undefined) throw new LedgerIntegrityError(problem);
      const latest = await store.latestCheckpoint();
      if (latest !== undefined) await Ledger.#checkStoredCheckpoint(latest, checker.tree, signer);
      return new Ledger(opts, store, signer, checker, lastAtMs, recovery, latest);
    } catch (err) {
      await store.close().catch(() => undefined);
      throw asRecordError(err, 'the usage record could not be read');
    }
  }

  static async #checkStoredCheckpoint(
    cp: Checkpoint,
    tree: MerkleTree,
    signer: CheckpointSigner,
  ): Promise<void> {
    if (cp.kid === signer.kid) {
      const sig = await verifyCheckpointSignature(cp, signer.publicJwk);
      if (!sig.ok) throw new LedgerIntegrityError({ kind: 'bad-signature', message: sig.message });
    }
    if (cp.size > tree.size) {
      throw new LedgerIntegrityError({
        kind: 'truncated',
        seq: tree.size,
        message: `the log has ${tree.size} entries but its latest checkpoint covers ${cp.size}`,
      });
    }
    if (toHex(tree.root(cp.size)) !== cp.root) {
      throw new LedgerIntegrityError({
        kind: 'root-mismatch',
        message: `the first ${cp.size} entries do not hash to the latest checkpoint's root`,
      });
    }
  }

  /** Durable entries; every query, proof and checkpoint covers only these. */
  get size(): number {
    return this.#tree.size;
  }

  /** The public key that verifies this ledger's checkpoints. */
  get publicJwk(): JWK {
    return { ...this.#signer.publicJwk };
  }

  get stats(): LedgerStats {
    return { ...this.#stats };
  }

  /**
   * Records an entry. Resolves once it is durably stored, with its seq and leaf hash. Throws
   * BAD_REQUEST / PAYLOAD_TOO_LARGE for an entry that cannot be recorded (nothing changes),
   * and RECORD_UNAVAILABLE when the record cannot be written: then the caller must not
   * answer, and every later append fails the same way until the ledger is reopened.
   */
  append(entry: LedgerEntry): Promise<AppendResult> {
    if (this.#failed !== undefined) return Promise.reject(this.#failed);
    if (this.#closed) return Promise.reject(unavailable('the usage record is closed'));
    const seq = this.#nextSeq;
    const atMs = Math.max(Date.now(), this.#lastAtMs);
    let encoded: ReturnType<typeof encodeRecord>;
    try {
      encoded = encodeRecord(
        entry,
        seq,
        new Date(atMs).toISOString(),
        this.#lastLeafHex,
        this.#maxEntryBytes,
      );
    } catch (err) {
      return Promise.reject(err);
    }
    const leaf = leafHash(encoded.bytes);
    this.#nextSeq = seq + 1;
    this.#lastAtMs = atMs;
    this.#lastLeafHex = toHex(leaf);
    return new Promise<AppendResult>((resolve, reject) => {
      this.#pending.push({
        stored: { seq, bytes: encoded.bytes, record: encoded.record },
        leaf,
        resolve,
        reject,
      });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#flushing !== undefined || this.#cancelScheduled !== undefined) return;
    const run = () => {
      this.#cancelScheduled = undefined;
      void this.#flush();
    };
    if (this.#groupCommitMs > 0) {
      const t = setTimeout(run, this.#groupCommitMs);
      this.#cancelScheduled = () => clearTimeout(t);
    } else {
      // Even with no wait, every append made in the same turn of the event loop joins the batch.
      const i = setImmediate(run);
      this.#cancelScheduled = () => clearImmediate(i);
    }
  }

  #flush(): Promise<void> {
    this.#flushing ??= this.#drain().finally(() => {
      this.#flushing = undefined;
      // Appends that arrived after the drain loop's last check are still waiting.
      if (this.#pending.length > 0 && this.#failed === undefined) this.#schedule();
    });
    return this.#flushing;
  }

  async #drain(): Promise<void> {
    while (this.#pending.length > 0 && this.#failed === undefined) {
      const batch = this.#pending;
      this.#pending = [];
      try {
        await this.#store.append(batch.map((p) => p.stored));
      } catch {
        this.#fail(batch);
        return;
      }
      for (const p of batch) this.#tree.append(p.leaf);
      this.#stats.appends += batch.length;
      this.#stats.batches++;
      this.#stats.largestBatch = Math.max(this.#stats.largestBatch, batch.length);
      for (const p of batch) p.resolve({ seq: p.stored.seq, leafHash: toHex(p.leaf) });
      const every = this.#checkpointEveryEntries;
      if (every > 0 && this.#tree.size - (this.#latest?.size ?? 0) >= every) this.#autoCheckpoint();
    }
  }

  #fail(batch: readonly Pending[]): void {
    this.#failed = unavailable(
      'the usage record could not be written; no further requests can be recorded until it is reopened',
    );
    const rejected = [...batch, ...this.#pending];
    this.#pending = [];
    for (const p of rejected) p.reject(this.#failed);
  }

  /** Whether a write has failed; the ledger then refuses appends until reopened. */
  get failed(): boolean {
    return this.#failed !== undefined;
  }

  #checkSeq(seq: number, size: number, what = 'seq'): void {
    if (!Number.isSafeInteger(seq) || seq < 0)
      throw badRequest(`${what} must be a non-negative integer`);
    if (seq >= size) throw new SluiceError('NOT_FOUND', `no usage record with ${what} ${seq}`);
  }

  #checkSize(size: number, what = 'size'): void {
    if (!Number.isSafeInteger(size) || size < 0 || size > this.#tree.size) {
      throw badRequest(`${what} must be an integer from 0 to ${this.#tree.size}`);
    }
  }

  async #readVerified(seq: number): Promise<LedgerRecord> {
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.#store.read(seq);
    } catch (err) {
      throw asRecordError(err, 'the usage record could not be read');
    }
    // Re-hash on every read: bytes changed on disk since open are refused, not served.
    if (bytes === undefined || !hashEqual(leafHash(bytes), this.#tree.leaf(seq))) {
      throw new LedgerIntegrityError({
        kind: 'altered',
        seq,
        message: 'stored bytes no longer match the leaf hash',
      });
    }
    const decoded = decodeRecord(bytes);
    if (!decoded.ok)
      throw new LedgerIntegrityError({ kind: 'malformed', seq, message: decoded.reason });
    return decoded.record;
  }

  /** One durable record. Throws NOT_FOUND beyond the end, BAD_REQUEST for a bad seq. */
  async get(seq: number): Promise<LedgerRecord> {
    this.#checkSeq(seq, this.#tree.size);
    return this.#readVerified(seq);
  }

  /**
   * Durable records matching `filter`, newest first, `limit` (1..1000, default 100) at a time.
   * `cursor` is the `next` of the previous page. Throws BAD_REQUEST for a bad filter or cursor.
   */
  async query(
    filter: LedgerFilter = {},
    cursor?: string | null,
    limit = DEFAULT_QUERY_LIMIT,
  ): Promise<QueryResult> {
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_QUERY_LIMIT) {
      throw badRequest(`limit must be an integer from 1 to ${MAX_QUERY_LIMIT}`);
    }
    let before: number | undefined;
    if (cursor !== undefined && cursor !== null) {
      if (typeof cursor !== 'string' || !/^(0|[1-9][0-9]{0,15})$/.test(cursor))
        throw badRequest('invalid cursor');
      before = Number(cursor);
    }
    for (const key of ['from', 'to'] as const) {
      if (filter[key] !== undefined && !isTime(filter[key]))
        throw badRequest(`${key} must be an ISO 8601 time`);
    }
    for (const key of INDEXED_FIELDS) {
      if (filter[key] !== undefined && typeof filter[key] !== 'string')
        throw badRequest(`${key} must be a string`);
    }
    let page: Awaited<ReturnType<LedgerStore['query']>>;
    try {
      page = await this.#store.query(filter, before, limit);
    } catch (err) {
      throw asRecordError(err, 'the usage record could not be searched');
    }
    const records: LedgerRecord[] = [];
    for (const seq of page.seqs) records.push(await this.#readVerified(seq));
    return { records, next: page.next === null ? null : String(page.next) };
  }

  /** Hex Merkle root of the first `size` durable entries (default: all). */
  root(size: number = this.#tree.size): string {
    this.#checkSize(size);
    return toHex(this.#tree.root(size));
  }

  /** The latest signed checkpoint, without making a new one. */
  get latestCheckpoint(): Checkpoint | undefined {
    return this.#latest;
  }

  /**
   * A signed checkpoint of the durable log, persisted before it is returned; the latest one
   * when the log has not grown since. Throws RECORD_UNAVAILABLE if it cannot be stored.
   */
  checkpoint(): Promise<Checkpoint> {
    if (this.#checkpointing !== undefined) return this.#checkpointing;
    const run = async (): Promise<Checkpoint> => {
      const size = this.#tree.size;
      if (this.#latest !== undefined && this.#latest.size === size) return this.#latest;
      const cp = await this.#signer.sign({
        origin: this.origin,
        size,
        root: toHex(this.#tree.root(size)),
        timestamp: new Date().toISOString(),
      });
      try {
        await this.#store.saveCheckpoint(cp);
      } catch {
        throw unavailable('the usage record checkpoint could not be stored');
      }
      this.#latest = cp;
      return cp;
    };
    this.#checkpointing = run().finally(() => {
      this.#checkpointing = undefined;
    });
    return this.#checkpointing;
  }

  #autoCheckpoint(): void {
    if (this.#closed || this.#failed !== undefined) return;
    if (this.#latest?.size === this.#tree.size) return;
    // A failed periodic checkpoint is retried at the next trigger; on-demand callers see the error.
    this.checkpoint().catch(() => undefined);
  }

  /** Proof that record `seq` is in the tree of the first `size` entries (default: all). */
  inclusionProof(seq: number, size: number = this.#tree.size): InclusionProof {
    this.#checkSize(size);
    this.#checkSeq(seq, size);
    return {
      seq,
      size,
      leafHash: toHex(this.#tree.leaf(seq)),
      root: toHex(this.#tree.root(size)),
      path: this.#tree.inclusionProof(seq, size).map(toHex),
    };
  }

  /** Proof that the log of `to` entries (default: all) extends the log of `from` entries. */
  consistencyProof(from: number, to: number = this.#tree.size): ConsistencyProof {
    this.#checkSize(to, 'to');
    this.#checkSize(from, 'from');
    if (from > to) throw badRequest('from must not exceed to');
    return {
      from,
      to,
      fromRoot: toHex(this.#tree.root(from)),
      toRoot: toHex(this.#tree.root(to)),
      path: this.#tree.consistencyProof(from, to).map(toHex),
    };
  }

  /**
   * Re-reads and re-verifies every durable entry from storage (canonical form, seq order,
   * hash chain) against the latest checkpoint; also checks that storage still matches the
   * tree held in memory since open.
   */
  async verify(): Promise<VerifyResult> {
    const size = this.#tree.size;
    const checker = new LogChecker();
    try {
      await this.#store.scan((bytes) => checker.push(bytes), size);
    } catch (err) {
      throw asRecordError(err, 'the usage record could not be read');
    }
    const problem = checker.finish();
    if (problem !== undefined) return { ok: false, problem };
    if (checker.size !== size) {
      return {
        ok: false,
        problem: {
          kind: 'truncated',
          seq: checker.size,
          message: `storage holds ${checker.size} of ${size} durable entries`,
        },
      };
    }
    const root = toHex(checker.tree.root());
    if (root !== toHex(this.#tree.root(size))) {
      return {
        ok: false,
        problem: { kind: 'root-mismatch', message: 'storage no longer matches the log as opened' },
      };
    }
    const cp = this.#latest;
    if (cp !== undefined && cp.size <= size) {
      if (toHex(checker.tree.root(cp.size)) !== cp.root) {
        return {
          ok: false,
          problem: {
            kind: 'root-mismatch',
            message: 'the log does not match its latest checkpoint',
          },
        };
      }
      return {
        ok: true,
        size,
        root,
        checkpoint: { size: cp.size, root: cp.root, timestamp: cp.timestamp },
      };
    }
    return { ok: true, size, root };
  }

  /**
   * Waits for appends in flight, signs a last checkpoint if the log grew, and closes storage.
   * Appends after close fail with RECORD_UNAVAILABLE.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#checkpointTimer !== undefined) clearInterval(this.#checkpointTimer);
    // Appends accepted before close are still written (a drain can reschedule a straggler).
    while (this.#pending.length > 0 || this.#flushing !== undefined) {
      this.#cancelScheduled?.();
      this.#cancelScheduled = undefined;
      await this.#flush();
    }
    await this.#checkpointing?.catch(() => undefined);
    if (this.#failed === undefined && this.#latest?.size !== this.#tree.size) {
      await this.checkpoint().catch(() => undefined);
    }
    await this.#store.close();
  }
}
