import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { importJWK, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadIssuerKeys } from '../../gateway/auth.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/** The commands a person types: `./sluice token <user>` and `./sluice ledger verify`. */
const run = promisify(execFile);
const root = path.resolve(import.meta.dirname, '../..');
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function cli(...args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, ['gateway/cli.ts', ...args], {
      cwd: root,
      env: { PATH: process.env.PATH, SLUICE_DATA_DIR: gw.config.dataDir },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('./sluice token', () => {
  it('prints a token for a demo user, alone on its last line', async () => {
    const { code, stdout } = await cli('token', 'alice');
    expect(code).toBe(0);
    const last = stdout.trimEnd().split('\n').at(-1)!;
    const keys = await loadIssuerKeys(gw.config.dataDir);
    const { payload } = await jwtVerify(last, await importJWK(keys.publicJwk, 'EdDSA'), {
      issuer: 'sluice-demo',
      audience: 'sluice',
    });
    expect(payload.sub).toBe('alice');
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: { authorization: `Bearer ${last}` },
      payload: { sql: 'SELECT count(*) AS n FROM citizens' },
    });
    expect(res.statusCode).toBe(200);
  });

  it('refuses anyone who is not a demo user', async () => {
    const { code, stdout, stderr } = await cli('token', 'mallory');
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toContain('usage');
  });
});

describe('./sluice ledger verify', () => {
  it('says the record is intact, and names the entry that was altered', async () => {
    await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('bob'),
      payload: { sql: 'SELECT count(*) FROM airports' },
    });
    // A later entry chains to bob's, so altering bob's is visible even without a newer checkpoint.
    await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: { sql: 'SELECT count(*) FROM citizens' },
    });
    const ok = await cli('ledger', 'verify');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain('OK');

    const file = path.join(gw.config.dataDir, 'ledger', 'records.jsonl');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('"user":"bob"', '"user":"bot"'));
    try {
      const bad = await cli('ledger', 'verify');
      expect(bad.code).toBe(1);
      expect(bad.stdout).toMatch(/FAILED: .*altered/);
    } finally {
      await writeFile(file, original);
    }
  });
});
