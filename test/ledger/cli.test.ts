import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ledgerDir, runLedgerCli } from '../../gateway/ledger/cli.ts';
import { RECORDS_FILE } from '../../gateway/ledger/file-store.ts';
import { Ledger } from '../../gateway/ledger/ledger.ts';

const root = mkdtempSync(join(tmpdir(), 'sluice-cli-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function run(args: string[], dataDir: string) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runLedgerCli(args, dataDir, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
  });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function seed(dataDir: string, n: number) {
  const ledger = await Ledger.open({
    dir: ledgerDir(dataDir),
    origin: 'sluice.test/cli',
    checkpointEveryMs: 0,
  });
  for (let i = 0; i < n; i++)
    await ledger.append({ user: 'alice', decision: 'allow', query: `SELECT ${i}` });
  await ledger.close(); // signs a checkpoint of n
}

describe('sluice ledger', () => {
  it('verify: an intact record, against the stored checkpoint', async () => {
    const dataDir = join(root, 'ok');
    await seed(dataDir, 12);
    const r = await run(['verify'], dataDir);
    expect(r.code).toBe(0);
    expect(r.out).toContain('OK: 12 entries intact');
    expect(r.out).toContain('signature valid');
  });

  it('verify: a saved checkpoint catches a truncation the stored one cannot', async () => {
    const dataDir = join(root, 'trunc');
    await seed(dataDir, 12);
    const saved = await run(['checkpoint'], dataDir);
    expect(saved.code).toBe(0);
    const cpFile = join(root, 'saved-checkpoint.json');
    writeFileSync(cpFile, saved.out);
    // the operator cuts the log and its checkpoint history
    const records = join(ledgerDir(dataDir), RECORDS_FILE);
    const lines = readFileSync(records, 'utf8').split('\n').filter(Boolean);
    writeFileSync(
      records,
      lines
        .slice(0, 9)
        .map((l) => `${l}\n`)
        .join(''),
    );
    writeFileSync(join(ledgerDir(dataDir), 'checkpoints.jsonl'), '');
    expect((await run(['verify'], dataDir)).code).toBe(0);
    const r = await run(['verify', '--checkpoint', cpFile], dataDir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAILED: truncated at seq 9');
  });

  it('verify: names an altered entry', async () => {
    const dataDir = join(root, 'altered');
    await seed(dataDir, 5);
    const records = join(ledgerDir(dataDir), RECORDS_FILE);
    writeFileSync(records, readFileSync(records, 'utf8').replace('SELECT 2', 'SELECT 9'));
    const r = await run(['verify'], dataDir);
    expect(r.code).toBe(1);
    expect(r.out).toContain('FAILED: altered at seq 2');
  });

  it('usage errors exit 2', async () => {
    expect((await run([], root)).code).toBe(2);
    expect((await run(['frobnicate'], root)).code).toBe(2);
    expect((await run(['verify', '--bogus'], root)).code).toBe(2);
    const missing = await run(['verify'], join(root, 'nothing-here'));
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('no usage record');
    const bad = join(root, 'bad-checkpoint.json');
    writeFileSync(bad, '{"size": 3}');
    await seed(join(root, 'bad'), 1);
    expect((await run(['verify', '--checkpoint', bad], join(root, 'bad'))).code).toBe(2);
  });
});
