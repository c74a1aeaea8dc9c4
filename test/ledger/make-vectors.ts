/**
 * Regenerates test/ledger/vectors/*.json:
 *   node test/ledger/make-vectors.ts && npx biome format --write test/ledger/vectors
 * The JSON files are committed and the tests assert against them; rerun this only when the
 * format changes on purpose, and review the diff. Output is deterministic: fixed inputs,
 * fixed times, and Ed25519 keys derived from fixed seeds (Ed25519 signatures are deterministic).
 */
import { createPrivateKey } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { JWK } from 'jose';
import type { Checkpoint } from '../../gateway/ledger/checkpoint.ts';
import { createSigner } from '../../gateway/ledger/checkpoint.ts';
import type { Hash } from '../../gateway/ledger/merkle.ts';
import { leafHash, MerkleTree, sha256, toHex } from '../../gateway/ledger/merkle.ts';
import { encodeRecord, GENESIS_PREV } from '../../gateway/ledger/record.ts';
import type { ProblemKind } from '../../gateway/ledger/verify.ts';
import { verifyLog } from '../../gateway/ledger/verify.ts';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'vectors');

/** The RFC 6962 / Certificate Transparency reference inputs. */
export const CT_INPUTS = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
];

export function keyFromSeed(label: string): JWK {
  const seed = sha256(new TextEncoder().encode(label));
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]);
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({
    format: 'jwk',
  }) as JWK;
}

const bytes = (hex: string) => new Uint8Array(Buffer.from(hex, 'hex'));
const hexes = (hs: readonly Hash[]) => hs.map(toHex);
const flipBit = (h: string, bit: number) => {
  const b = Buffer.from(h, 'hex');
  b[0]! ^= bit;
  return b.toString('hex');
};
const SOME_HASH = 'abacaba000000000000000000000000000000000000000000060061e00123456';

function merkleVectors() {
  const leaves = CT_INPUTS.map((h) => leafHash(bytes(h)));
  const tree = MerkleTree.fromLeafHashes(leaves);
  const roots = Array.from({ length: 9 }, (_, size) => ({ size, root: toHex(tree.root(size)) }));
  const inclusion = [];
  for (let size = 1; size <= 8; size++) {
    for (let index = 0; index < size; index++) {
      inclusion.push({
        index,
        size,
        leafHash: toHex(tree.leaf(index)),
        root: toHex(tree.root(size)),
        proof: hexes(tree.inclusionProof(index, size)),
      });
    }
  }
  const consistency = [];
  for (let size2 = 0; size2 <= 8; size2++) {
    for (let size1 = 0; size1 <= size2; size1++) {
      consistency.push({
        size1,
        size2,
        root1: toHex(tree.root(size1)),
        root2: toHex(tree.root(size2)),
        proof: hexes(tree.consistencyProof(size1, size2)),
      });
    }
  }

  // Tampered probes after transparency-dev/merkle's corruptInclusionProof / corruptConsistencyProof.
  const inclusionTampered = [];
  for (const [index, size] of [
    [0, 8],
    [5, 8],
    [2, 3],
    [1, 5],
  ] as const) {
    const leaf = toHex(tree.leaf(index));
    const root = toHex(tree.root(size));
    const proof = hexes(tree.inclusionProof(index, size));
    const base = { index, size, leafHash: leaf, root, proof };
    const probes: { desc: string; [k: string]: unknown }[] = [
      { ...base, desc: 'index + 1', index: index + 1 },
      { ...base, desc: 'index ^ 2', index: index ^ 2 },
      { ...base, desc: 'size * 2', size: size * 2 },
      { ...base, desc: 'size / 2', size: Math.floor(size / 2) },
      { ...base, desc: 'wrong leaf', leafHash: toHex(leafHash(bytes('ff'))) },
      { ...base, desc: 'empty-tree root', root: toHex(sha256(new Uint8Array())) },
      { ...base, desc: 'random root', root: SOME_HASH },
      { ...base, desc: 'trailing root', proof: [...proof, root] },
      { ...base, desc: 'preceding root', proof: [root, ...proof] },
      ...proof.map((_, i) => ({
        ...base,
        desc: `proof[${i}] bit 3 flipped`,
        proof: proof.map((p, j) => (j === i ? flipBit(p, 8) : p)),
      })),
      ...(proof.length > 0
        ? [{ ...base, desc: 'last component removed', proof: proof.slice(0, -1) }]
        : []),
    ];
    if (index > 0) probes.unshift({ ...base, desc: 'index - 1', index: index - 1 });
    inclusionTampered.push(...probes);
  }

  const consistencyTampered = [];
  for (const [size1, size2] of [
    [1, 8],
    [6, 8],
    [2, 5],
    [6, 7],
    [3, 7],
  ] as const) {
    const root1 = toHex(tree.root(size1));
    const root2 = toHex(tree.root(size2));
    const proof = hexes(tree.consistencyProof(size1, size2));
    const base = { size1, size2, root1, root2, proof };
    consistencyTampered.push(
      { ...base, desc: 'size1 - 1', size1: size1 - 1 },
      { ...base, desc: 'size1 + 1', size1: size1 + 1 },
      { ...base, desc: 'size1 ^ 2', size1: size1 ^ 2 },
      { ...base, desc: 'size2 * 2', size2: size2 * 2 },
      { ...base, desc: 'size2 / 2', size2: Math.floor(size2 / 2) },
      { ...base, desc: 'wrong root1', root1: SOME_HASH },
      { ...base, desc: 'wrong root2', root2: SOME_HASH },
      { ...base, desc: 'swapped roots', root1: root2, root2: root1 },
      { ...base, desc: 'empty proof', proof: [] },
      { ...base, desc: 'trailing root1', proof: [...proof, root1] },
      { ...base, desc: 'preceding root2', proof: [root2, ...proof] },
      { ...base, desc: 'preceding proof[0]', proof: [proof[0]!, ...proof] },
      { ...base, desc: 'last component removed', proof: proof.slice(0, -1) },
      ...proof.map((_, i) => ({
        ...base,
        desc: `proof[${i}] bit 4 flipped`,
        proof: proof.map((p, j) => (j === i ? flipBit(p, 16) : p)),
      })),
    );
  }

  return {
    description:
      'RFC 6962 SHA-256 Merkle tree vectors over the Certificate Transparency reference inputs. ' +
      'leaves are hex entry bytes; hashes are hex. Every tampered probe must fail verification. ' +
      'Generated by test/ledger/make-vectors.ts.',
    leaves: CT_INPUTS,
    leafHashes: hexes(leaves),
    roots,
    inclusion,
    consistency,
    inclusionTampered,
    consistencyTampered,
  };
}

const ORIGIN = 'sluice.test/usage';

function baseEntries(): string[] {
  const lines: string[] = [];
  let prev = GENESIS_PREV;
  const users = ['alice', 'bob', 'alice', 'reggie', 'alice', 'carol', 'alice', 'bob'];
  users.forEach((user, seq) => {
    const denied = user === 'bob';
    const entry = {
      user,
      action: user === 'reggie' ? 'audit.read' : 'query',
      decision: denied ? 'deny' : 'allow',
      ...(denied ? { errorCode: 'NOT_LICENSED' } : {}),
      datasets: ['citizens'],
      ...(user === 'alice' ? { agreement: 'agr-alice-citizens', org: 'Fudan University' } : {}),
      query: `SELECT district, count(*) FROM citizens GROUP BY district -- ${seq}`,
      traceId: `trace-${String(seq).padStart(4, '0')}`,
    };
    const at = `2025-01-01T00:00:${String(seq).padStart(2, '0')}.000Z`;
    const { bytes: b } = encodeRecord(entry, seq, at, prev);
    lines.push(new TextDecoder().decode(b));
    prev = toHex(leafHash(b));
  });
  return lines;
}

/** Rewrites a line's JSON (keeping canonical form) without fixing anything else. */
function edit(line: string, change: (o: Record<string, unknown>) => void): string {
  const o = JSON.parse(line) as Record<string, unknown>;
  change(o);
  const keys = Object.keys(o).sort();
  return JSON.stringify(Object.fromEntries(keys.map((k) => [k, o[k]])));
}

/** Re-chains lines from `from` on, as an operator rewriting the log wholesale would. */
function rechain(lines: string[], from: number): string[] {
  const out = [...lines];
  for (let i = Math.max(from, 1); i < out.length; i++) {
    const prev = toHex(leafHash(new TextEncoder().encode(out[i - 1]!)));
    out[i] = edit(out[i]!, (o) => {
      o.prev = prev;
    });
  }
  return out;
}

async function tamperVectors() {
  const key = keyFromSeed('sluice ledger test vectors: log key');
  const otherKey = keyFromSeed('sluice ledger test vectors: another key');
  const signer = await createSigner(key);
  const other = await createSigner(otherKey);
  const lines = baseEntries();
  const tree = MerkleTree.fromLeafHashes(lines.map((l) => leafHash(new TextEncoder().encode(l))));
  const sign = (s: typeof signer, size: number, root = toHex(tree.root(size))) =>
    s.sign({
      origin: ORIGIN,
      size,
      root,
      timestamp: `2025-01-01T00:01:${String(size).padStart(2, '0')}.000Z`,
    });
  const full = await sign(signer, 8);
  const partial = await sign(signer, 5);
  const forgedRoot: Checkpoint = { ...full, root: SOME_HASH };
  const forgedSize: Checkpoint = { ...partial, size: 8, root: full.root };
  const otherSigned = await sign(other, 8);

  const without = (...seqs: number[]) => lines.filter((_, i) => !seqs.includes(i));
  const swap = (a: number, b: number) => {
    const out = [...lines];
    [out[a], out[b]] = [out[b]!, out[a]!];
    return out;
  };
  const replace = (seq: number, change: (o: Record<string, unknown>) => void) =>
    lines.map((l, i) => (i === seq ? edit(l, change) : l));

  type Want = { ok: true } | { kind: ProblemKind; seq?: number };
  // The wants are written by hand; the script refuses to write vectors that disagree.
  const cases: {
    desc: string;
    entries: string[];
    checkpoint: string | Checkpoint | null;
    want: Want;
  }[] = [
    { desc: 'intact log, no checkpoint', entries: lines, checkpoint: null, want: { ok: true } },
    {
      desc: 'intact log against a checkpoint of its size',
      entries: lines,
      checkpoint: 'full',
      want: { ok: true },
    },
    {
      desc: 'intact log that grew since a checkpoint',
      entries: lines,
      checkpoint: 'partial',
      want: { ok: true },
    },
    {
      desc: 'altered entry: decision of seq 3 changed',
      entries: replace(3, (o) => {
        o.decision = 'deny';
      }),
      checkpoint: null,
      want: { kind: 'altered', seq: 3 },
    },
    {
      desc: 'altered entry: a denied request (seq 1) relabelled as allowed, with checkpoint',
      entries: replace(1, (o) => {
        o.decision = 'allow';
        delete o.errorCode;
      }),
      checkpoint: 'full',
      want: { kind: 'altered', seq: 1 },
    },
    {
      desc: 'altered entry: prev of seq 4 changed',
      entries: replace(4, (o) => {
        o.prev = SOME_HASH;
      }),
      checkpoint: null,
      want: { kind: 'altered', seq: 4 },
    },
    {
      desc: 'altered entry: seq field of seq 5 changed',
      entries: replace(5, (o) => {
        o.seq = 50;
      }),
      checkpoint: null,
      want: { kind: 'altered', seq: 5 },
    },
    {
      desc: 'altered first entry (seq 0)',
      entries: replace(0, (o) => {
        o.user = 'mallory';
      }),
      checkpoint: null,
      want: { kind: 'altered', seq: 0 },
    },
    {
      desc: 'altered last entry: only a checkpoint shows it',
      entries: replace(7, (o) => {
        o.user = 'mallory';
      }),
      checkpoint: 'full',
      want: { kind: 'root-mismatch' },
    },
    {
      desc: 'altered last entry without a checkpoint: undetectable (documents the limit)',
      want: { ok: true },
      entries: replace(7, (o) => {
        o.user = 'mallory';
      }),
      checkpoint: null,
    },
    {
      desc: 'inserted copy of seq 7 at the end',
      entries: [...lines, lines[7]!],
      checkpoint: null,
      want: { kind: 'altered', seq: 7 },
    },
    {
      desc: 'deleted entry seq 2',
      entries: without(2),
      checkpoint: null,
      want: { kind: 'deleted', seq: 2 },
    },
    {
      desc: 'deleted entries seq 2 and 3',
      entries: without(2, 3),
      checkpoint: null,
      want: { kind: 'deleted', seq: 2 },
    },
    {
      desc: 'deleted first entry',
      entries: without(0),
      checkpoint: null,
      want: { kind: 'deleted', seq: 0 },
    },
    {
      desc: 'reordered: seq 4 and 5 swapped',
      entries: swap(4, 5),
      checkpoint: null,
      want: { kind: 'reordered', seq: 4 },
    },
    {
      desc: 'reordered: seq 6 moved to position 1',
      entries: [lines[0]!, lines[6]!, ...lines.slice(1, 6), lines[7]!],
      checkpoint: null,
      want: { kind: 'reordered', seq: 1 },
    },
    {
      desc: 'truncated: last 3 entries removed, checkpoint of 8',
      entries: lines.slice(0, 5),
      checkpoint: 'full',
      want: { kind: 'truncated', seq: 5 },
    },
    {
      desc: 'truncated to empty, checkpoint of 8',
      entries: [],
      checkpoint: 'full',
      want: { kind: 'truncated', seq: 0 },
    },
    {
      desc: 'truncated: last entry removed, no checkpoint: undetectable',
      entries: lines.slice(0, 7),
      checkpoint: null,
      want: { ok: true },
    },
    {
      desc: 'forged checkpoint: root replaced',
      entries: lines,
      checkpoint: forgedRoot,
      want: { kind: 'bad-signature' },
    },
    {
      desc: 'forged checkpoint: size enlarged',
      entries: lines,
      checkpoint: forgedSize,
      want: { kind: 'bad-signature' },
    },
    {
      desc: 'checkpoint signed by another key',
      entries: lines,
      checkpoint: otherSigned,
      want: { kind: 'bad-signature' },
    },
    {
      desc: 'rewritten log: seq 2 changed and every later prev recomputed',
      entries: rechain(
        replace(2, (o) => {
          o.decision = 'deny';
        }),
        3,
      ),
      checkpoint: 'full',
      want: { kind: 'root-mismatch' },
    },
    {
      desc: 'malformed: seq 3 not in canonical form',
      entries: lines.map((l, i) => (i === 3 ? l.replace(':', ': ') : l)),
      checkpoint: null,
      want: { kind: 'malformed', seq: 3 },
    },
    {
      desc: 'malformed: position 2 is not JSON',
      entries: lines.map((l, i) => (i === 2 ? l.slice(0, 40) : l)),
      checkpoint: null,
      want: { kind: 'malformed', seq: 2 },
    },
    {
      desc: 'malformed: seq 4 lacks prev',
      entries: replace(4, (o) => delete o.prev),
      checkpoint: null,
      want: { kind: 'malformed', seq: 4 },
    },
  ];

  const checkpoints: Record<string, Checkpoint> = { full, partial };
  const out = [];
  for (const c of cases) {
    const cp =
      typeof c.checkpoint === 'string' ? checkpoints[c.checkpoint] : (c.checkpoint ?? undefined);
    const result = await verifyLog(
      c.entries.map((l) => new TextEncoder().encode(l)),
      cp,
      signer.publicJwk,
    );
    const want = result.ok
      ? { ok: true, size: result.size, root: result.root }
      : {
          ok: false,
          kind: result.problem.kind,
          ...(result.problem.seq === undefined ? {} : { seq: result.problem.seq }),
        };
    const expected =
      'ok' in c.want ? { ok: true, size: want.size, root: want.root } : { ok: false, ...c.want };
    if (JSON.stringify(want) !== JSON.stringify(expected)) {
      throw new Error(
        `${c.desc}: verifyLog says ${JSON.stringify(want)}, the case wants ${JSON.stringify(expected)}`,
      );
    }
    out.push({ desc: c.desc, entries: c.entries, checkpoint: c.checkpoint, want });
  }
  return {
    description:
      'Small usage-record logs, intact and tampered. entries are the log lines (canonical JSON, ' +
      'no newline); checkpoint is null, the name of one in checkpoints, or an inline (forged) one; ' +
      'want is the verification result, with the problem kind and seq when it fails. ' +
      'Generated by test/ledger/make-vectors.ts; review the wants by hand when regenerating.',
    origin: ORIGIN,
    publicKey: signer.publicJwk,
    checkpoints,
    cases: out,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, 'merkle.json'), `${JSON.stringify(merkleVectors(), null, 2)}\n`);
  writeFileSync(
    join(outDir, 'log-tamper.json'),
    `${JSON.stringify(await tamperVectors(), null, 2)}\n`,
  );
  console.log(`wrote ${join(outDir, 'merkle.json')} and ${join(outDir, 'log-tamper.json')}`);
}
