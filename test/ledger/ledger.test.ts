import {
  appendFileSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '../../gateway/errors.ts';
import { verifyCheckpointSignature } from '../../gateway/ledger/checkpoint.ts';
import { FileLedgerStore, RECORDS_FILE } from '../../gateway/ledger/file-store.ts';
import type { LedgerOptions } from '../../gateway/ledger/ledger.ts';
import { Ledger } from '../../gateway/ledger/ledger.ts';
import {
  fromHex,
  leafHash,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from '../../gateway/ledger/merkle.ts';
import type { LedgerStore } from '../../gateway/ledger/store.ts';
import { LedgerIntegrityError, verifyFile } from '../../gateway/ledger/verify.ts';

const root = mkdtempSync(join(tmpdir(), 'sluice-ledger-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => join(root, `l${dirs++}`);

const ORIGIN = 'sluice.test/usage';

async function withLedger<T>(
  opts: Partial<LedgerOptions> & { dir?: string },
  fn: (ledger: Ledger, dir: string) => Promise<T>,
): Promise<T> {
  const dir = opts.dir ?? freshDir();
  const ledger = await Ledger.open({ origin: ORIGIN, checkpointEveryMs: 0, ...opts, dir });
  try {
    return await fn(ledger, dir);
  } finally {
    await ledger.close();
  }
}

async function codeOf(p: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    if (isSluiceError(err)) return err.code;
    throw err;
  }
  throw new Error('expected a SluiceError');
}

function entry(i: number, extra: Record<string, unknown> = {}) {
  return {
    user: i % 3 === 0 ? 'alice' : i % 3 === 1 ? 'bob' : 'reggie',
    action: 'query',
    decision: i % 3 === 1 ? 'deny' : 'allow',
    ...(i % 3 === 1 ? { errorCode: 'NOT_LICENSED' } : {}),
    datasets: i % 2 === 0 ? ['citizens'] : ['flights', 'airports'],
    ...(i % 3 === 0 ? { agreement: 'agr-alice-citizens', org: 'Fudan University' } : {}),
    query: `SELECT ${i}`,
    ...extra,
  };
}

function fileLines(dir: string): string[] {
  return readFileSync(join(dir, RECORDS_FILE), 'utf8').split('\n').filter(Boolean);
}

describe('Ledger: append, read, chain', () => {
  it('assigns seq, at and prev; stores canonical JSON; chains leaf hashes', async () => {
    await withLedger({}, async (ledger, dir) => {
      const a = await ledger.append({ user: 'alice', z: 1, a: [1, 'x'], decision: 'allow' });
      const b = await ledger.append({ user: 'bob', decision: 'deny' });
      expect([a.seq, b.seq]).toEqual([0, 1]);
      expect(ledger.size).toBe(2);
      const lines = fileLines(dir);
      expect(lines[0]).toMatch(
        /^\{"a":\[1,"x"\],"at":"[^"]+","decision":"allow","prev":"0{64}","seq":0,"user":"alice","z":1\}$/,
      );
      expect(toHex(leafHash(new TextEncoder().encode(lines[0]!)))).toBe(a.leafHash);
      const r1 = await ledger.get(1);
      expect(r1.prev).toBe(a.leafHash);
      expect(r1).toMatchObject({ seq: 1, user: 'bob', decision: 'deny' });
      expect(Date.parse(r1.at)).toBeGreaterThan(0);
    });
  });

  it('refuses entries it cannot record, without consuming a seq', async () => {
    await withLedger({ maxEntryBytes: 1024 }, async (ledger) => {
      expect(await codeOf(ledger.append({ seq: 5 }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.append({ prev: 'x' }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.append({ n: Number.NaN }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.append({ n: 10n }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.append({ s: '\uD800' }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.append([] as unknown as Record<string, unknown>))).toBe(
        'BAD_REQUEST',
      );
      expect(await codeOf(ledger.append({ big: 'x'.repeat(2000) }))).toBe('PAYLOAD_TOO_LARGE');
      expect((await ledger.append({ ok: true })).seq).toBe(0);
    });
  });

  it('get: NOT_FOUND beyond the end, BAD_REQUEST for a bad seq', async () => {
    await withLedger({}, async (ledger) => {
      await ledger.append(entry(0));
      expect(await codeOf(ledger.get(1))).toBe('NOT_FOUND');
      expect(await codeOf(ledger.get(-1))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.get(0.5))).toBe('BAD_REQUEST');
    });
  });

  it('group commit: concurrent appends share writes, and all are durable and distinct', async () => {
    await withLedger({}, async (ledger, dir) => {
      const results = await Promise.all(
        Array.from({ length: 300 }, (_, i) => ledger.append(entry(i))),
      );
      expect(results.map((r) => r.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: 300 }, (_, i) => i),
      );
      expect(ledger.stats.appends).toBe(300);
      expect(ledger.stats.batches).toBeLessThan(30);
      expect(fileLines(dir)).toHaveLength(300);
      expect(await verifyFile(join(dir, RECORDS_FILE))).toMatchObject({
        ok: true,
        size: 300,
        root: ledger.root(),
      });
    });
  });

  it('group commit with a window batches appends spread over time', async () => {
    await withLedger({ groupCommitMs: 50 }, async (ledger) => {
      const ps: Promise<unknown>[] = [];
      for (let i = 0; i < 10; i++) {
        ps.push(ledger.append(entry(i)));
        await new Promise((r) => setTimeout(r, 2));
      }
      await Promise.all(ps);
      expect(ledger.stats.appends).toBe(10);
      expect(ledger.stats.batches).toBeLessThanOrEqual(5);
    });
  });

  it('close flushes appends in flight and refuses later ones', async () => {
    const dir = freshDir();
    const ledger = await Ledger.open({ dir, origin: ORIGIN });
    const pending = Array.from({ length: 20 }, (_, i) => ledger.append(entry(i)));
    await ledger.close();
    expect((await Promise.all(pending)).length).toBe(20);
    expect(await codeOf(ledger.append(entry(99)))).toBe('RECORD_UNAVAILABLE');
    expect(fileLines(dir)).toHaveLength(20);
    // close signed a final checkpoint
    expect(ledger.latestCheckpoint?.size).toBe(20);
  });
});

describe('Ledger: query', () => {
  const dir = freshDir();
  const N = 60;
  const seed = async (ledger: Ledger) => {
    for (let i = 0; i < N; i++) await ledger.append(entry(i));
  };

  it('filters, newest first, with cursor paging', async () => {
    await withLedger({ dir }, async (ledger) => {
      await seed(ledger);
      const all = await ledger.query({}, null, 1000);
      expect(all.records.map((r) => r.seq)).toEqual(Array.from({ length: N }, (_, i) => N - 1 - i));
      expect(all.next).toBeNull();

      const alice = await ledger.query({ user: 'alice' });
      expect(alice.records.every((r) => r.user === 'alice')).toBe(true);
      expect(alice.records).toHaveLength(20);

      const denied = await ledger.query({ decision: 'deny', errorCode: 'NOT_LICENSED' });
      expect(denied.records.map((r) => r.seq)).toEqual(
        Array.from({ length: N }, (_, i) => i)
          .filter((i) => i % 3 === 1)
          .reverse(),
      );
      const flights = await ledger.query({ dataset: 'airports', user: 'bob' });
      expect(flights.records.map((r) => r.seq)).toEqual(
        Array.from({ length: N }, (_, i) => i)
          .filter((i) => i % 2 === 1 && i % 3 === 1)
          .reverse(),
      );
      expect(
        (await ledger.query({ agreement: 'agr-alice-citizens', org: 'Fudan University' })).records,
      ).toHaveLength(20);
      expect((await ledger.query({ user: 'nobody' })).records).toEqual([]);

      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page = await ledger.query({ user: 'alice' }, cursor, 7);
        seen.push(...page.records.map((r) => r.seq));
        cursor = page.next;
      } while (cursor !== null);
      expect(seen).toEqual(alice.records.map((r) => r.seq));
    });
  });

  it('filters by time, from inclusive and to exclusive', async () => {
    await withLedger({ dir }, async (ledger) => {
      const r10 = await ledger.get(10);
      const r50 = await ledger.get(50);
      const page = await ledger.query({ from: r10.at, to: r50.at }, null, 1000);
      const seqs = page.records.map((r) => r.seq);
      for (const s of seqs) {
        const at = Date.parse(page.records.find((r) => r.seq === s)!.at);
        expect(at).toBeGreaterThanOrEqual(Date.parse(r10.at));
        expect(at).toBeLessThan(Date.parse(r50.at));
      }
      expect(seqs).toContain(10);
      expect(seqs).not.toContain(50);
    });
  });

  it('rejects bad filters, cursors and limits', async () => {
    await withLedger({ dir }, async (ledger) => {
      expect(await codeOf(ledger.query({}, 'abc'))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.query({}, '-1'))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.query({}, null, 0))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.query({}, null, 1001))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.query({ from: 'yesterday' }))).toBe('BAD_REQUEST');
      expect(await codeOf(ledger.query({ user: 5 as unknown as string }))).toBe('BAD_REQUEST');
    });
  });
});

describe('Ledger: checkpoints and proofs', () => {
  it('signs checkpoints that verify, persist, and anchor proofs', async () => {
    const dir = freshDir();
    const first = await withLedger({ dir }, async (ledger) => {
      for (let i = 0; i < 13; i++) await ledger.append(entry(i));
      const cp = await ledger.checkpoint();
      expect(cp).toMatchObject({ origin: ORIGIN, size: 13, root: ledger.root() });
      expect(await verifyCheckpointSignature(cp, ledger.publicJwk)).toEqual({ ok: true });
      expect(await ledger.checkpoint()).toBe(cp);
      const forged = { ...cp, size: 12 };
      expect((await verifyCheckpointSignature(forged, ledger.publicJwk)).ok).toBe(false);
      return cp;
    });
    await withLedger({ dir }, async (ledger) => {
      // the final checkpoint signed at close is newer; the first one still verifies the log
      expect(ledger.latestCheckpoint?.size).toBe(13);
      for (let i = 13; i < 40; i++) await ledger.append(entry(i));
      const later = await ledger.checkpoint();
      const inc = ledger.inclusionProof(5, first.size);
      expect(inc.root).toBe(first.root);
      verifyInclusion(
        5,
        first.size,
        fromHex(inc.leafHash),
        inc.path.map(fromHex),
        fromHex(first.root),
      );
      const leaf = toHex(leafHash(new TextEncoder().encode(fileLines(dir)[5]!)));
      expect(inc.leafHash).toBe(leaf);
      const cons = ledger.consistencyProof(first.size, later.size);
      verifyConsistency(
        first.size,
        later.size,
        cons.path.map(fromHex),
        fromHex(first.root),
        fromHex(later.root),
      );
      expect(await codeOf(() => ledger.inclusionProof(40))).toBe('NOT_FOUND');
      expect(await codeOf(() => ledger.inclusionProof(0, 41))).toBe('BAD_REQUEST');
      expect(await codeOf(() => ledger.consistencyProof(30, 20))).toBe('BAD_REQUEST');
      expect(await ledger.verify()).toMatchObject({ ok: true, size: 40, checkpoint: { size: 40 } });
    });
  });

  it('checkpoints periodically by count and by time', async () => {
    await withLedger({ checkpointEveryEntries: 10 }, async (ledger) => {
      for (let i = 0; i < 25; i++) await ledger.append(entry(i));
      await new Promise((r) => setTimeout(r, 50));
      // triggered at 10 and 20 (later if the previous one was still being written)
      expect(ledger.latestCheckpoint?.size).toBeGreaterThanOrEqual(20);
    });
    await withLedger({ checkpointEveryEntries: 0, checkpointEveryMs: 30 }, async (ledger) => {
      await ledger.append(entry(0));
      await new Promise((r) => setTimeout(r, 150));
      expect(ledger.latestCheckpoint?.size).toBe(1);
    });
  });

  it('uses a given signing key and publishes its public half', async () => {
    const { generateKeyPair, exportJWK } = await import('jose');
    const { privateKey } = await generateKeyPair('Ed25519', { extractable: true });
    const jwk = await exportJWK(privateKey);
    await withLedger({ signingKey: jwk }, async (ledger, dir) => {
      expect(ledger.publicJwk.x).toBe(jwk.x);
      expect(ledger.publicJwk.d).toBeUndefined();
      const pub = JSON.parse(readFileSync(join(dir, 'checkpoint-key.pub.jwk'), 'utf8'));
      expect(pub.x).toBe(jwk.x);
      expect(() => statSync(join(dir, 'checkpoint-key.jwk'))).toThrow();
    });
  });
});

describe('Ledger: reopen, recovery and integrity', () => {
  it('reopens with the same root and keeps chaining', async () => {
    const dir = freshDir();
    const root1 = await withLedger({ dir }, async (ledger) => {
      for (let i = 0; i < 10; i++) await ledger.append(entry(i));
      return ledger.root();
    });
    await withLedger({ dir }, async (ledger) => {
      expect(ledger.size).toBe(10);
      expect(ledger.root()).toBe(root1);
      expect(ledger.recovery.tornTailBytes).toBe(0);
      const r = await ledger.append(entry(10));
      expect(r.seq).toBe(10);
      expect((await ledger.get(10)).prev).toBe(ledger.inclusionProof(9).leafHash);
      expect(Date.parse((await ledger.get(10)).at)).toBeGreaterThanOrEqual(
        Date.parse((await ledger.get(9)).at),
      );
    });
    expect(await verifyFile(join(dir, RECORDS_FILE))).toMatchObject({ ok: true, size: 11 });
  });

  it('cuts away a torn last write and reports it', async () => {
    const dir = freshDir();
    await withLedger({ dir }, async (ledger) => {
      for (let i = 0; i < 5; i++) await ledger.append(entry(i));
    });
    const before = statSync(join(dir, RECORDS_FILE)).size;
    const torn = '{"action":"query","at":"2025';
    appendFileSync(join(dir, RECORDS_FILE), torn);
    await withLedger({ dir }, async (ledger) => {
      expect(ledger.recovery.tornTailBytes).toBe(torn.length);
      expect(statSync(join(dir, RECORDS_FILE)).size).toBe(before);
      expect(ledger.size).toBe(5);
      await ledger.append(entry(5));
      expect(await ledger.verify()).toMatchObject({ ok: true, size: 6 });
    });
  });

  async function openError(dir: string): Promise<LedgerIntegrityError> {
    try {
      const l = await Ledger.open({ dir, origin: ORIGIN, checkpointEveryMs: 0 });
      await l.close();
    } catch (err) {
      if (err instanceof LedgerIntegrityError) return err;
      throw err;
    }
    throw new Error('expected the ledger to refuse to open');
  }

  async function seeded(n: number): Promise<string> {
    const dir = freshDir();
    await withLedger({ dir, checkpointEveryEntries: 0 }, async (ledger) => {
      for (let i = 0; i < n; i++) await ledger.append(entry(i));
    });
    return dir;
  }

  const rewrite = (dir: string, change: (lines: string[]) => string[]) =>
    writeFileSync(
      join(dir, RECORDS_FILE),
      change(fileLines(dir))
        .map((l) => `${l}\n`)
        .join(''),
    );

  it('refuses to open a log with an altered entry, naming it', async () => {
    const dir = await seeded(6);
    rewrite(dir, (ls) => ls.map((l, i) => (i === 2 ? l.replace('"allow"', '"deny"') : l)));
    const err = await openError(dir);
    expect(err.code).toBe('RECORD_UNAVAILABLE');
    expect(err.problem).toMatchObject({ kind: 'altered', seq: 2 });
  });

  it('refuses a malformed line in the middle rather than dropping it', async () => {
    const dir = await seeded(6);
    rewrite(dir, (ls) => ls.map((l, i) => (i === 3 ? l.slice(0, 20) : l)));
    expect((await openError(dir)).problem).toMatchObject({ kind: 'malformed', seq: 3 });
  });

  it('refuses a log shorter than its stored checkpoint', async () => {
    const dir = await seeded(6); // close signed a checkpoint of 6
    rewrite(dir, (ls) => ls.slice(0, 4));
    expect((await openError(dir)).problem).toMatchObject({ kind: 'truncated', seq: 4 });
  });

  it('refuses a rewritten log that no longer matches its stored checkpoint', async () => {
    const dir = await seeded(6);
    rewrite(dir, (ls) => ls.map((l, i) => (i === 5 ? l.replace('"SELECT 5"', '"SELECT 6"') : l)));
    expect((await openError(dir)).problem).toMatchObject({ kind: 'root-mismatch' });
  });

  it('refuses to serve entries changed on disk after open', async () => {
    const dir = freshDir();
    await withLedger({ dir }, async (ledger) => {
      for (let i = 0; i < 4; i++) await ledger.append(entry(i));
      const lines = fileLines(dir);
      // same length, different byte: the index offsets stay valid
      lines[1] = lines[1]!.replace('SELECT 1', 'SELECT 7');
      writeFileSync(join(dir, RECORDS_FILE), lines.map((l) => `${l}\n`).join(''));
      expect(await codeOf(ledger.get(1))).toBe('RECORD_UNAVAILABLE');
      expect(await ledger.verify()).toMatchObject({
        ok: false,
        problem: { kind: 'altered', seq: 1 },
      });
      // restore, so that close can finish cleanly
      writeFileSync(
        join(dir, RECORDS_FILE),
        lines.map((l) => `${l.replace('SELECT 7', 'SELECT 1')}\n`).join(''),
      );
    });
  });
});

describe('Ledger: write failures', () => {
  /** A real file store whose appends start failing on demand. */
  async function failingStore(dir: string) {
    const inner = await FileLedgerStore.open(dir);
    const control = { fail: false, appendsSeen: 0 };
    const store: LedgerStore = {
      load: (v) => inner.load(v),
      append: async (batch) => {
        control.appendsSeen++;
        if (control.fail) throw new Error('EIO: injected');
        return inner.append(batch);
      },
      read: (s) => inner.read(s),
      query: (f, b, l) => inner.query(f, b, l),
      scan: (v, c) => inner.scan(v, c),
      saveCheckpoint: (c) => inner.saveCheckpoint(c),
      latestCheckpoint: () => inner.latestCheckpoint(),
      close: () => inner.close(),
    };
    return { store, control };
  }

  it('a failed write rejects with RECORD_UNAVAILABLE and the ledger refuses all further appends', async () => {
    const dir = freshDir();
    const { store, control } = await failingStore(dir);
    const ledger = await Ledger.open({ dir, origin: ORIGIN, store, checkpointEveryMs: 0 });
    await ledger.append(entry(0));
    control.fail = true;
    const burst = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => ledger.append(entry(i + 1))),
    );
    expect(burst.every((r) => r.status === 'rejected')).toBe(true);
    for (const r of burst)
      expect(
        isSluiceError((r as PromiseRejectedResult).reason) &&
          (r as PromiseRejectedResult).reason.code,
      ).toBe('RECORD_UNAVAILABLE');
    expect(ledger.failed).toBe(true);
    control.fail = false;
    const seen = control.appendsSeen;
    expect(await codeOf(ledger.append(entry(50)))).toBe('RECORD_UNAVAILABLE');
    expect(control.appendsSeen).toBe(seen);
    expect(ledger.size).toBe(1);
    await ledger.close();

    await withLedger({ dir }, async (reopened) => {
      expect(reopened.size).toBe(1);
      expect((await reopened.append(entry(1))).seq).toBe(1);
    });
  });
});
