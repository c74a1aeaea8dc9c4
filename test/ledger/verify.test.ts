import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JWK } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import type { Checkpoint } from '../../gateway/ledger/checkpoint.ts';
import { leafHash, MerkleTree, toHex } from '../../gateway/ledger/merkle.ts';
import { GENESIS_PREV } from '../../gateway/ledger/record.ts';
import type { ProblemKind } from '../../gateway/ledger/verify.ts';
import { verifyFile, verifyLog } from '../../gateway/ledger/verify.ts';

interface Case {
  desc: string;
  entries: string[];
  checkpoint: string | Checkpoint | null;
  want: { ok: true; size: number; root: string } | { ok: false; kind: ProblemKind; seq?: number };
}
const V = (await import('./vectors/log-tamper.json', { with: { type: 'json' } }))
  .default as unknown as {
  publicKey: JWK;
  checkpoints: Record<string, Checkpoint>;
  cases: Case[];
};

const enc = (s: string) => new TextEncoder().encode(s);
const checkpointOf = (c: Case) =>
  typeof c.checkpoint === 'string' ? V.checkpoints[c.checkpoint] : (c.checkpoint ?? undefined);

function summary(r: Awaited<ReturnType<typeof verifyLog>>) {
  return r.ok
    ? { ok: true, size: r.size, root: r.root }
    : {
        ok: false,
        kind: r.problem.kind,
        ...(r.problem.seq === undefined ? {} : { seq: r.problem.seq }),
      };
}

const dir = mkdtempSync(join(tmpdir(), 'sluice-verify-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('log tamper vectors', () => {
  it('the intact log chains and hashes as computed independently here', () => {
    const lines = V.cases[0]!.entries;
    let prev = GENESIS_PREV;
    const leaves = lines.map((line, i) => {
      const record = JSON.parse(line) as { seq: number; prev: string };
      expect(record.seq).toBe(i);
      expect(record.prev).toBe(prev);
      const leaf = leafHash(enc(line));
      prev = toHex(leaf);
      return leaf;
    });
    const want = V.cases[0]!.want;
    expect(want.ok && want.root).toBe(toHex(MerkleTree.fromLeafHashes(leaves).root()));
    expect(V.checkpoints.full!.root).toBe(toHex(MerkleTree.fromLeafHashes(leaves).root()));
  });

  it('covers every problem kind', () => {
    const kinds = new Set(V.cases.map((c) => (c.want.ok ? 'ok' : c.want.kind)));
    for (const k of [
      'ok',
      'altered',
      'deleted',
      'reordered',
      'truncated',
      'bad-signature',
      'root-mismatch',
      'malformed',
    ]) {
      expect(kinds).toContain(k);
    }
  });

  it.each(V.cases)('verifyLog: $desc', async (c) => {
    const result = await verifyLog(c.entries.map(enc), checkpointOf(c), V.publicKey);
    expect(summary(result)).toEqual(c.want);
    if (!result.ok) expect(result.problem.message.length).toBeGreaterThan(0);
  });

  it.each(V.cases)('verifyFile: $desc', async (c) => {
    const path = join(dir, 'records.jsonl');
    writeFileSync(path, c.entries.map((l) => `${l}\n`).join(''));
    const result = await verifyFile(path, { checkpoint: checkpointOf(c), publicKey: V.publicKey });
    expect(summary(result)).toEqual(c.want);
  });

  it('a checkpoint is refused without a public key to check it', async () => {
    const c = V.cases[1]!;
    const result = await verifyLog(c.entries.map(enc), checkpointOf(c));
    expect(summary(result)).toEqual({ ok: false, kind: 'bad-signature' });
  });

  it('a checkpoint without its fields is malformed', async () => {
    const bogus = { size: 1 } as unknown as Checkpoint;
    const result = await verifyLog([], bogus, V.publicKey);
    expect(summary(result)).toEqual({ ok: false, kind: 'malformed' });
  });

  it('verifyFile ignores and reports a torn last line', async () => {
    const c = V.cases[0]!;
    const path = join(dir, 'torn.jsonl');
    const whole = c.entries.map((l) => `${l}\n`).join('');
    writeFileSync(path, `${whole}{"action":"que`);
    const result = await verifyFile(path);
    expect(result).toMatchObject({ ok: true, size: 8, tornTailBytes: 14 });
  });

  it('verifyFile reports an empty line as malformed', async () => {
    const c = V.cases[0]!;
    const path = join(dir, 'blank.jsonl');
    writeFileSync(path, `${c.entries[0]}\n\n${c.entries.slice(1).join('\n')}\n`);
    expect(summary(await verifyFile(path))).toEqual({ ok: false, kind: 'malformed', seq: 1 });
  });
});
