/**
 * Usage-record benchmark: `node bench/ledger-bench.ts [--seconds N] [--records N] [--dir DIR]`
 *
 * Prints durable appends per second with 1, 8 and 64 concurrent appenders (group commit),
 * against a baseline in the same run: one write + one fdatasync per record, no batching (what
 * the ledger would do without group commit). Then the speed of verifying a 100,000-record
 * log from disk (canonical form, seq, hash chain, Merkle root), of opening it (verify and
 * index), and of inclusion proofs at that size. Uses a temporary directory on the same file
 * system as os.tmpdir() unless --dir is given; fdatasync cost depends on that disk.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, open } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { RECORDS_FILE } from '../gateway/ledger/file-store.ts';
import { Ledger } from '../gateway/ledger/ledger.ts';
import { fromHex, leafHash, toHex, verifyInclusion } from '../gateway/ledger/merkle.ts';
import { encodeRecord, GENESIS_PREV } from '../gateway/ledger/record.ts';
import { verifyFile } from '../gateway/ledger/verify.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    records: { type: 'string', default: '100000' },
    dir: { type: 'string' },
  },
});
const SECONDS = Number(values.seconds);
const RECORDS = Number(values.records);
const base = mkdtempSync(join(values.dir ?? tmpdir(), 'sluice-ledger-bench-'));
let dirs = 0;
const fresh = () => join(base, `run${dirs++}`);

/** A realistic record: what the gateway writes for one query. */
function sampleEntry(i: number) {
  return {
    user: `user-${i % 50}`,
    org: 'Fudan University',
    action: 'query',
    decision: i % 10 === 0 ? 'deny' : 'allow',
    ...(i % 10 === 0 ? { errorCode: 'POLICY_DENIED' } : {}),
    datasets: ['citizens'],
    agreement: 'agr-alice-citizens',
    query: `SELECT district, avg(income) FROM citizens WHERE district IN ('Pudong','Xuhui') GROUP BY district -- ${i}`,
    rowCount: 2,
    traceId: `4bf92f3577b34da6a3ce929d0e0e${String(i).padStart(4, '0')}`,
    durationMs: 12,
  };
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function baselineFsyncPerRecord(): Promise<number> {
  const dir = fresh();
  await mkdir(dir, { recursive: true });
  const fh = await open(join(dir, 'baseline.jsonl'), 'a');
  const line = Buffer.from(`${JSON.stringify(sampleEntry(0))}\n`);
  const end = performance.now() + SECONDS * 1000;
  let n = 0;
  while (performance.now() < end) {
    await fh.write(line);
    await fh.datasync();
    n++;
  }
  await fh.close();
  return n / SECONDS;
}

async function ledgerAppends(concurrency: number) {
  const ledger = await Ledger.open({
    dir: fresh(),
    origin: 'bench/usage',
    checkpointEveryMs: 0,
    checkpointEveryEntries: 0,
  });
  let n = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  const latencies: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        await ledger.append(sampleEntry(n));
        latencies.push(performance.now() - t);
        n++;
      }
    }),
  );
  const elapsed = (performance.now() - start) / 1000;
  const stats = ledger.stats;
  await ledger.close();
  latencies.sort((a, b) => a - b);
  return {
    perSecond: n / elapsed,
    avgBatch: stats.appends / stats.batches,
    p50: latencies[Math.floor(latencies.length / 2)]!,
    p99: latencies[Math.floor(latencies.length * 0.99)]!,
  };
}

function writeLog(dir: string, n: number): number {
  mkdirSync(dir, { recursive: true });
  const parts: Uint8Array[] = [];
  let prev = GENESIS_PREV;
  const t0 = Date.parse('2025-01-01T00:00:00Z');
  let bytes = 0;
  for (let i = 0; i < n; i++) {
    const { bytes: b } = encodeRecord(sampleEntry(i), i, new Date(t0 + i).toISOString(), prev);
    prev = toHex(leafHash(b));
    parts.push(b, Buffer.from('\n'));
    bytes += b.length + 1;
  }
  writeFileSync(join(dir, RECORDS_FILE), Buffer.concat(parts));
  return bytes;
}

async function main() {
  console.log('Sluice usage-record benchmark');
  console.log(`command: node bench/ledger-bench.ts --seconds ${SECONDS} --records ${RECORDS}`);
  console.log(
    `node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), dir ${base}`,
  );
  console.log('');

  const baseline = await baselineFsyncPerRecord();
  console.log(
    `baseline, one write + fdatasync per record (no batching): ${fmt(baseline)} records/s`,
  );
  console.log('');
  console.log('durable appends (each acknowledged once on disk), group commit:');
  console.log('appenders | appends/s | vs baseline | records per sync | p50 ms | p99 ms');
  for (const c of [1, 8, 64]) {
    const r = await ledgerAppends(c);
    console.log(
      `${String(c).padStart(9)} | ${fmt(r.perSecond).padStart(9)} | ${`${(r.perSecond / baseline).toFixed(1)}x`.padStart(11)} | ${r.avgBatch.toFixed(1).padStart(16)} | ${r.p50.toFixed(2).padStart(6)} | ${r.p99.toFixed(2).padStart(6)}`,
    );
  }
  console.log('');

  const dir = fresh();
  const bytes = writeLog(dir, RECORDS);
  const path = join(dir, RECORDS_FILE);
  let t = performance.now();
  const result = await verifyFile(path);
  const verifySeconds = (performance.now() - t) / 1000;
  if (!result.ok) throw new Error(`benchmark log failed verification: ${result.problem.message}`);
  console.log(
    `verify ${fmt(RECORDS)} records (${(bytes / 1e6).toFixed(1)} MB) from disk: ${verifySeconds.toFixed(2)} s, ${fmt(RECORDS / verifySeconds)} records/s`,
  );

  t = performance.now();
  const ledger = await Ledger.open({ dir, origin: 'bench/usage', checkpointEveryMs: 0 });
  const openSeconds = (performance.now() - t) / 1000;
  console.log(
    `open (verify + rebuild tree and index): ${openSeconds.toFixed(2)} s, ${fmt(RECORDS / openSeconds)} records/s`,
  );

  t = performance.now();
  const root = fromHex(ledger.root());
  const proofs = 10_000;
  for (let k = 0; k < proofs; k++) {
    const seq = (k * 7919) % RECORDS;
    const p = ledger.inclusionProof(seq);
    verifyInclusion(seq, p.size, fromHex(p.leafHash), p.path.map(fromHex), root);
  }
  const proofSeconds = (performance.now() - t) / 1000;
  console.log(
    `inclusion proofs at size ${fmt(RECORDS)}, generated and verified: ${fmt(proofs / proofSeconds)} /s`,
  );

  t = performance.now();
  let found = 0;
  for (let k = 0; k < 100; k++)
    found += (await ledger.query({ user: `user-${k % 50}`, decision: 'deny' }, null, 50)).records
      .length;
  console.log(
    `queries (user + decision, 50 newest, read and re-hashed): ${((performance.now() - t) / 100).toFixed(2)} ms each (${found} records)`,
  );
  await ledger.close();
}

try {
  await main();
} finally {
  rmSync(base, { recursive: true, force: true });
}
