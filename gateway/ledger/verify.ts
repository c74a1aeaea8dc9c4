/**
 * Pure verification of a usage record: given its entries (and optionally a checkpoint someone
 * kept, with the log's public key), say whether it is intact and, if not, which entry is wrong
 * and how. No state beyond the arguments; `verifyFile` only adds reading the file.
 *
 * What each check can see:
 * - `seq` must run 0, 1, 2, ... in file order: a gap is a deletion, a seq found later in the
 *   file is a reordering.
 * - `prev` must equal the previous entry's leaf hash: an entry whose bytes changed no longer
 *   matches the hash its successor recorded, so the altered seq is named. The last entry has no
 *   successor; its alteration, like a wholesale rewrite that recomputed every hash, is only
 *   visible against a checkpoint (root-mismatch).
 * - a checkpoint of a larger size than the log shows truncation; its signature shows forgery.
 */
import { open } from 'node:fs/promises';
import type { JWK } from 'jose';
import { SluiceError } from '../errors.ts';
import type { Checkpoint } from './checkpoint.ts';
import { checkpointSchema, verifyCheckpointSignature } from './checkpoint.ts';
import { scanLines } from './lines.ts';
import { leafHash, MerkleTree, toHex } from './merkle.ts';
import type { LedgerRecord } from './record.ts';
import { decodeRecord, GENESIS_PREV } from './record.ts';

export type ProblemKind =
  | 'altered'
  | 'deleted'
  | 'reordered'
  | 'truncated'
  | 'bad-signature'
  | 'root-mismatch'
  | 'malformed';

export interface LogProblem {
  readonly kind: ProblemKind;
  /** The entry at fault: see `LogChecker` for which seq each kind names. */
  readonly seq?: number;
  readonly message: string;
}

export type VerifyResult =
  | {
      readonly ok: true;
      readonly size: number;
      /** Hex Merkle root of all `size` entries. */
      readonly root: string;
      /** The checkpoint the log was checked against, if any. */
      readonly checkpoint?: {
        readonly size: number;
        readonly root: string;
        readonly timestamp: string;
      };
      /** Bytes after the last newline, ignored: an unacknowledged write cut short (verifyFile only). */
      readonly tornTailBytes?: number;
    }
  | { readonly ok: false; readonly problem: LogProblem };

/** The usage record failed an integrity check; the ledger will not serve or extend it. */
export class LedgerIntegrityError extends SluiceError {
  readonly problem: LogProblem;

  constructor(problem: LogProblem) {
    super('RECORD_UNAVAILABLE', `usage record integrity check failed: ${describeProblem(problem)}`);
    this.name = 'LedgerIntegrityError';
    this.problem = problem;
  }
}

export function describeProblem(p: LogProblem): string {
  return p.seq === undefined
    ? `${p.kind}: ${p.message}`
    : `${p.kind} at seq ${p.seq}: ${p.message}`;
}

interface SeqSuspect {
  readonly position: number;
  readonly seq: number;
  /** Whether the entry's prev matches the entry before it, i.e. it sits where it was written. */
  readonly chains: boolean;
  nextSeq: number | undefined;
  /** Later positions at which `position` (the seq expected here) was found. */
  foundAt: number | undefined;
  seen: number;
}

/**
 * Checks a log entry by entry, in file order, keeping only the Merkle tree. The first problem
 * wins; which seq it names:
 * - malformed: the line's seq if it has one, else its position;
 * - altered: the entry whose bytes no longer match (the successor's `prev` tells), or whose
 *   own `prev` or `seq` field was changed;
 * - deleted: the first missing seq;
 * - reordered: the lowest seq that is not at its position;
 * - altered, for a copy of an earlier entry inserted later: the repeated seq.
 */
export class LogChecker {
  readonly tree = new MerkleTree();
  #position = 0;
  #prevHex = GENESIS_PREV;
  #problem: LogProblem | undefined;
  /** A chain break at this position, waiting for the next line to say who is at fault. */
  #chainBreak: { position: number; leafHex: string } | undefined;
  #seqSuspect: SeqSuspect | undefined;

  /** Entries checked and found sound so far. */
  get size(): number {
    return this.tree.size;
  }

  get failed(): boolean {
    return (
      this.#problem !== undefined ||
      this.#chainBreak !== undefined ||
      this.#seqSuspect !== undefined
    );
  }

  /**
   * Feeds the next line (without its newline). Returns the parsed record while the log is
   * still sound, and undefined once a problem has been seen.
   */
  push(line: Uint8Array): LedgerRecord | undefined {
    const position = this.#position++;
    if (this.#problem !== undefined) return undefined;
    if (this.#seqSuspect !== undefined) {
      this.#observeAfterSeqSuspect(line, position);
      return undefined;
    }
    const decoded = decodeRecord(line);
    if (this.#chainBreak !== undefined) {
      this.#resolveChainBreak(decoded.ok ? decoded.record.prev : undefined);
      return undefined;
    }
    if (!decoded.ok) {
      this.#problem = {
        kind: 'malformed',
        seq: decoded.seq ?? position,
        message: `entry at position ${position} is ${decoded.reason}`,
      };
      return undefined;
    }
    const { record } = decoded;
    const chains = record.prev === this.#prevHex;
    if (record.seq !== position) {
      this.#seqSuspect = {
        position,
        seq: record.seq,
        chains,
        nextSeq: undefined,
        foundAt: undefined,
        seen: 0,
      };
      return undefined;
    }
    const leaf = leafHash(line);
    const leafHex = toHex(leaf);
    if (!chains) {
      this.#chainBreak = { position, leafHex };
      return undefined;
    }
    this.tree.append(leaf);
    this.#prevHex = leafHex;
    return record;
  }

  /** The first problem, or undefined if every line pushed so far is sound. */
  finish(): LogProblem | undefined {
    if (this.#chainBreak !== undefined) this.#resolveChainBreak(undefined);
    if (this.#seqSuspect !== undefined) this.#resolveSeqSuspect();
    return this.#problem;
  }

  #resolveChainBreak(nextPrev: string | undefined): void {
    const { position, leafHex } = this.#chainBreak!;
    this.#chainBreak = undefined;
    // If the successor no longer names this entry's bytes either, this entry changed (at least
    // its prev); if it still does, this entry is intact and the one before it changed.
    if (position === 0 || (nextPrev !== undefined && nextPrev !== leafHex)) {
      this.#problem = {
        kind: 'altered',
        seq: position,
        message: `seq ${position} does not chain to the entry before it (its prev was changed)`,
      };
    } else {
      this.#problem = {
        kind: 'altered',
        seq: position - 1,
        message: `seq ${position - 1} does not match the hash recorded in seq ${position}'s prev`,
      };
    }
  }

  #observeAfterSeqSuspect(line: Uint8Array, position: number): void {
    const s = this.#seqSuspect!;
    s.seen++;
    const decoded = decodeRecord(line);
    const seq = decoded.ok ? decoded.record.seq : decoded.seq;
    if (position === s.position + 1) s.nextSeq = seq;
    if (seq === s.position && s.foundAt === undefined) s.foundAt = position;
  }

  #resolveSeqSuspect(): void {
    const s = this.#seqSuspect!;
    this.#seqSuspect = undefined;
    const p = s.position;
    if (s.chains && (s.seen === 0 || s.nextSeq === p + 1)) {
      this.#problem = {
        kind: 'altered',
        seq: p,
        message: `the entry at position ${p} chains correctly but its seq was changed to ${s.seq}`,
      };
    } else if (s.seq < p) {
      // Every seq below p was already seen in place, so this is a copy.
      this.#problem = {
        kind: 'altered',
        seq: s.seq,
        message: `seq ${s.seq} appears again at position ${p}: an inserted copy`,
      };
    } else if (s.foundAt !== undefined) {
      this.#problem = {
        kind: 'reordered',
        seq: p,
        message: `position ${p} holds seq ${s.seq}; seq ${p} comes later, at position ${s.foundAt}`,
      };
    } else {
      const last = s.seq - 1;
      this.#problem = {
        kind: 'deleted',
        seq: p,
        message:
          last === p
            ? `seq ${p} is missing (position ${p} holds seq ${s.seq})`
            : `seqs ${p} to ${last} are missing (position ${p} holds seq ${s.seq})`,
      };
    }
  }
}

export interface VerifyOptions {
  readonly checkpoint?: Checkpoint | undefined;
  /** Ed25519 public JWK of the log; required to accept a checkpoint. */
  readonly publicKey?: JWK | undefined;
}

async function checkCheckpointSignature(opts: VerifyOptions): Promise<LogProblem | undefined> {
  const { checkpoint, publicKey } = opts;
  if (checkpoint === undefined) return undefined;
  if (!checkpointSchema.safeParse(checkpoint).success) {
    return { kind: 'malformed', message: 'the checkpoint does not have the expected fields' };
  }
  if (publicKey === undefined) {
    return {
      kind: 'bad-signature',
      message: 'no public key to check the checkpoint signature with',
    };
  }
  const sig = await verifyCheckpointSignature(checkpoint, publicKey);
  return sig.ok ? undefined : { kind: 'bad-signature', message: sig.message };
}

/** Compares a sound log (its tree) with a checkpoint whose signature was already checked. */
function compareWithCheckpoint(
  tree: MerkleTree,
  checkpoint: Checkpoint | undefined,
  tornTailBytes?: number,
): VerifyResult {
  const size = tree.size;
  const root = toHex(tree.root());
  const torn = tornTailBytes ? { tornTailBytes } : {};
  if (checkpoint === undefined) return { ok: true, size, root, ...torn };
  if (checkpoint.size > size) {
    return {
      ok: false,
      problem: {
        kind: 'truncated',
        seq: size,
        message: `the log has ${size} entries but a checkpoint signed at ${checkpoint.timestamp} covers ${checkpoint.size}`,
      },
    };
  }
  const got = toHex(tree.root(checkpoint.size));
  if (got !== checkpoint.root) {
    return {
      ok: false,
      problem: {
        kind: 'root-mismatch',
        message: `the first ${checkpoint.size} entries chain correctly but hash to root ${got}, not the checkpoint's ${checkpoint.root}: entries were rewritten (the last one, or every one after the first change)`,
      },
    };
  }
  const { timestamp } = checkpoint;
  return {
    ok: true,
    size,
    root,
    checkpoint: { size: checkpoint.size, root: checkpoint.root, timestamp },
    ...torn,
  };
}

/**
 * Verifies a log given as its entries' bytes (one per line, without newlines), optionally
 * against a checkpoint. A checkpoint is only trusted with the log's public key.
 */
export async function verifyLog(
  entries: readonly Uint8Array[],
  checkpoint?: Checkpoint,
  publicKey?: JWK,
): Promise<VerifyResult> {
  const opts = { checkpoint, publicKey };
  const sigProblem = await checkCheckpointSignature(opts);
  if (sigProblem) return { ok: false, problem: sigProblem };
  const checker = new LogChecker();
  for (const e of entries) checker.push(e);
  const problem = checker.finish();
  if (problem) return { ok: false, problem };
  return compareWithCheckpoint(checker.tree, checkpoint);
}

/**
 * Verifies a log file (newline-delimited canonical JSON), streaming it. Bytes after the last
 * newline are an unacknowledged write cut short: they are ignored and counted in
 * `tornTailBytes`. `maxBytes` limits the read to a prefix, e.g. what a running ledger has made
 * durable.
 */
export async function verifyFile(
  path: string,
  opts: VerifyOptions & { readonly maxBytes?: number } = {},
): Promise<VerifyResult> {
  const sigProblem = await checkCheckpointSignature(opts);
  if (sigProblem) return { ok: false, problem: sigProblem };
  const checker = new LogChecker();
  const fh = await open(path, 'r');
  let tail: number;
  try {
    const scan = await scanLines(
      fh,
      (line) => {
        checker.push(line);
        return undefined;
      },
      opts.maxBytes,
    );
    tail = scan.tailBytes;
  } finally {
    await fh.close();
  }
  const problem = checker.finish();
  if (problem) return { ok: false, problem };
  return compareWithCheckpoint(checker.tree, opts.checkpoint, tail);
}
