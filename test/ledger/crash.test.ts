import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCheckpoint } from '../../gateway/ledger/checkpoint.ts';
import { CHECKPOINTS_FILE, RECORDS_FILE } from '../../gateway/ledger/file-store.ts';
import { Ledger } from '../../gateway/ledger/ledger.ts';
import { verifyFile } from '../../gateway/ledger/verify.ts';

const WRITER = fileURLToPath(new URL('./fixtures/ledger-writer.ts', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'sluice-crash-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Run {
  acked: number[];
  lines: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * Runs the writer; with `killAfterMs`, SIGKILLs it that long after it is ready. `fileLimitKb`
 * runs it under `ulimit -f`, so that writes past the limit fail with EFBIG like a full disk.
 */
function runWriter(
  dir: string,
  opts: { killAfterMs?: number; fileLimitKb?: number },
): Promise<Run> {
  const args = [WRITER, dir, '16'];
  const child =
    opts.fileLimitKb === undefined
      ? spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] })
      : spawn(
          'bash',
          ['-c', `ulimit -f ${opts.fileLimitKb}; exec "$0" "$@"`, process.execPath, ...args],
          {
            stdio: ['ignore', 'pipe', 'inherit'],
          },
        );
  const lines: string[] = [];
  let buf = '';
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      buf += chunk;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const line of parts) {
        lines.push(line);
        if (line.startsWith('ready') && opts.killAfterMs !== undefined) {
          setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
        }
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const acked = lines.filter((l) => /^\d+$/.test(l)).map(Number);
      resolve({ acked, lines, code, signal });
    });
  });
}

async function checkRecovered(dir: string, acked: readonly number[]): Promise<Ledger> {
  const ledger = await Ledger.open({ dir, origin: 'sluice.test/crash', checkpointEveryMs: 0 });
  const max = Math.max(...acked);
  // seq is the position in the log, so every acknowledged seq below size is present
  expect(ledger.size).toBeGreaterThan(max);
  for (const seq of [0, max, ...acked.filter((_, i) => i % 97 === 0)]) {
    expect((await ledger.get(seq)).seq).toBe(seq);
  }
  const verified = await ledger.verify();
  expect(verified.ok).toBe(true);
  // the checkpoint the killed process stored last, or (if it stored none) a fresh one
  const stored = readFileSync(join(dir, CHECKPOINTS_FILE), 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean);
  const latest =
    stored.length > 0 ? parseCheckpoint(stored[stored.length - 1]!) : await ledger.checkpoint();
  expect(
    await verifyFile(join(dir, RECORDS_FILE), { checkpoint: latest, publicKey: ledger.publicJwk }),
  ).toMatchObject({
    ok: true,
  });
  return ledger;
}

describe('crash safety', () => {
  it('every acknowledged append survives kill -9, twice in a row', {
    timeout: 60_000,
  }, async () => {
    const dir = join(root, 'kill');
    let total = 0;
    for (let round = 0; round < 2; round++) {
      const run = await runWriter(dir, { killAfterMs: 1000 });
      expect(run.signal).toBe('SIGKILL');
      expect(run.acked.length).toBeGreaterThan(50);
      expect(new Set(run.acked).size).toBe(run.acked.length);
      total += run.acked.length;
      const ledger = await checkRecovered(dir, run.acked);
      expect(ledger.size).toBeGreaterThanOrEqual(total);
      await ledger.close();
    }
  });

  it('a write that fails (file size limit, like a full disk) fails closed, and reopening recovers', {
    timeout: 60_000,
  }, async () => {
    const dir = join(root, 'efbig');
    const run = await runWriter(dir, { fileLimitKb: 64 });
    expect(run.code).toBe(0);
    expect(run.lines).toContain('error RECORD_UNAVAILABLE');
    expect(run.lines).toContain('refused RECORD_UNAVAILABLE');
    expect(run.lines).not.toContain('accepted after failure');
    expect(run.acked.length).toBeGreaterThan(10);
    const written = readFileSync(join(dir, RECORDS_FILE));
    const tail = written.length - 1 - written.lastIndexOf(0x0a);
    const ledger = await checkRecovered(dir, run.acked);
    // the limit usually cuts the failing write mid-line; reopening cut exactly that away
    expect(ledger.recovery.tornTailBytes).toBe(tail);
    const size = ledger.size;
    expect((await ledger.append({ user: 'after-recovery' })).seq).toBe(size);
    await ledger.close();
  });
});
