import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function call(method: 'GET' | 'POST', url: string, user?: string, payload?: object) {
  return gw.app.inject({
    method,
    url,
    headers: user ? await gw.as(user) : {},
    ...(payload ? { payload } : {}),
  });
}

describe('the usage record', () => {
  it('records every query, allowed or denied, before the answer leaves', async () => {
    const before = gw.services.ledger.size;
    const ok = await call('POST', '/v1/query', 'alice', {
      sql: 'SELECT district, count(*) AS n FROM citizens GROUP BY district',
    });
    expect(ok.statusCode).toBe(200);
    expect(gw.services.ledger.size).toBe(before + 1);
    const denied = await call('POST', '/v1/query', 'alice', { sql: 'SELECT phone FROM citizens' });
    expect(denied.statusCode).toBe(403);
    const anonymous = await call('POST', '/v1/query', undefined, { sql: 'SELECT 1' });
    expect(anonymous.statusCode).toBe(401);
    const invalid = await call('POST', '/v1/query', 'alice', { nope: 1 });
    expect(invalid.statusCode).toBe(400);
    expect(gw.services.ledger.size).toBe(before + 4);

    const allowed = await gw.services.ledger.get(before);
    expect(allowed).toMatchObject({
      action: 'query',
      decision: 'allow',
      user: 'alice',
      org: 'Fudan University',
      agreement: 'agr-alice-citizens',
      datasets: ['citizens'],
      rows: 2,
      truncated: false,
      traceId: ok.json().traceId,
    });
    expect(allowed.sqlHash).toMatch(/^[0-9a-f]{64}$/);
    expect(allowed.answerDigest).toMatch(/^[0-9a-f]{64}$/);
    expect(allowed.quota).toMatchObject({ agreement: 'agr-alice-citizens', limit: 100000 });
    expect(await gw.services.ledger.get(before + 1)).toMatchObject({
      decision: 'deny',
      errorCode: 'POLICY_DENIED',
      user: 'alice',
      query: 'SELECT phone FROM citizens',
    });
    expect(await gw.services.ledger.get(before + 2)).toMatchObject({
      decision: 'deny',
      errorCode: 'UNAUTHENTICATED',
      user: null,
    });
    expect(await gw.services.ledger.get(before + 3)).toMatchObject({
      action: 'query',
      decision: 'deny',
      errorCode: 'BAD_REQUEST',
    });
  });

  it('lets regulators page and filter, newest first', async () => {
    const all = await call('GET', '/v1/audit/records?limit=2', 'reggie');
    expect(all.statusCode).toBe(200);
    const page = all.json();
    expect(page.records).toHaveLength(2);
    expect(page.records[0].seq).toBeGreaterThan(page.records[1].seq);
    const older = await call('GET', `/v1/audit/records?limit=2&cursor=${page.next}`, 'reggie');
    expect(older.json().records[0].seq).toBeLessThan(page.records[1].seq);
    const denials = await call(
      'GET',
      '/v1/audit/records?decision=deny&errorCode=POLICY_DENIED&user=alice',
      'reggie',
    );
    expect(denials.json().records.length).toBeGreaterThan(0);
    for (const r of denials.json().records) {
      expect(r).toMatchObject({ decision: 'deny', errorCode: 'POLICY_DENIED', user: 'alice' });
    }
  });

  it('shows researchers only their own records and agencies only their datasets', async () => {
    await call('POST', '/v1/query', 'bob', { sql: 'SELECT count(*) FROM airports' });
    const bobs = (await call('GET', '/v1/audit/records', 'bob')).json().records;
    expect(bobs.length).toBeGreaterThan(0);
    expect(bobs.every((r: { user: string }) => r.user === 'bob')).toBe(true);
    const spying = (await call('GET', '/v1/audit/records?user=alice', 'bob')).json().records;
    expect(spying).toEqual([]);
    const carols = (await call('GET', '/v1/audit/records', 'carol')).json().records;
    expect(carols.some((r: { user: string }) => r.user === 'bob')).toBe(false);
    expect(carols.length).toBeGreaterThan(0);
    expect(carols.every((r: { datasets: string[] }) => r.datasets.includes('citizens'))).toBe(true);
    // One of alice's records, found by the regulator, is invisible to bob.
    const alices = (await call('GET', '/v1/audit/records?user=alice', 'reggie')).json().records;
    expect(alices.length).toBeGreaterThan(0);
    const hidden = await call('GET', `/v1/audit/records/${alices[0].seq}`, 'bob');
    expect(hidden.statusCode).toBe(404);
    expect(hidden.json().error.code).toBe('NOT_FOUND');
    const own = await call('GET', `/v1/audit/records/${bobs[0].seq}`, 'bob');
    expect(own.statusCode).toBe(200);
    expect(own.json().user).toBe('bob');
  });

  it('serves one record with its inclusion proof', async () => {
    const res = await call('GET', '/v1/audit/records/0', 'reggie');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ seq: 0 });
    // The proof is against the log as it stood before this very request was recorded.
    expect(res.json().proof).toMatchObject({ seq: 0, size: gw.services.ledger.size - 1 });
    expect((await call('GET', '/v1/audit/records/999999', 'reggie')).statusCode).toBe(404);
    expect((await call('GET', '/v1/audit/records/abc', 'reggie')).statusCode).toBe(400);
  });

  it('exports a filtered range as CSV', async () => {
    const res = await call('GET', '/v1/audit/records.csv?user=alice', 'reggie');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/csv');
    const [header, ...rows] = res.body.trim().split('\n');
    expect(header!.split(',')).toContain('seq');
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.includes(',alice,'))).toBe(true);
  });

  it('counts requests by dataset, user, decision and day', async () => {
    for (const by of ['dataset', 'user', 'decision', 'day']) {
      const res = await call('GET', `/v1/audit/stats?by=${by}`, 'reggie');
      expect(res.statusCode).toBe(200);
      expect(res.json().groups.length).toBeGreaterThan(0);
    }
    const byUser = (await call('GET', '/v1/audit/stats?by=user', 'reggie')).json().groups;
    const alice = byUser.find((g: { key: string }) => g.key === 'alice');
    expect(alice.requests).toBeGreaterThanOrEqual(2);
    expect(alice.denied).toBeGreaterThanOrEqual(1);
  });

  it('verifies online, and serves a signed checkpoint to anyone', async () => {
    const verify = await call('GET', '/v1/audit/verify', 'reggie');
    expect(verify.statusCode).toBe(200);
    expect(verify.json()).toMatchObject({ ok: true, size: gw.services.ledger.size });
    expect((await call('GET', '/v1/audit/verify', 'alice')).statusCode).toBe(403);
    const checkpoint = await call('GET', '/v1/audit/checkpoint');
    expect(checkpoint.statusCode).toBe(200);
    expect(checkpoint.json()).toMatchObject({ origin: 'sluice/usage-record' });
    expect(checkpoint.json().jws.split('.')).toHaveLength(3);
    const fresh = await call('POST', '/v1/audit/checkpoint', 'reggie');
    expect(fresh.statusCode).toBe(200);
    expect(fresh.json().size).toBe(gw.services.ledger.size);
    expect((await call('POST', '/v1/audit/checkpoint', 'alice')).statusCode).toBe(403);
  });

  it('proves that a later log extends an earlier one', async () => {
    const size = gw.services.ledger.size;
    const res = await call('GET', `/v1/audit/proofs/consistency?from=2&to=${size}`);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ from: 2, to: size });
    expect(res.json().fromRoot).toBe(gw.services.ledger.root(2));
  });

  it('notices an altered record', async () => {
    const file = path.join(gw.config.dataDir, 'ledger', 'records.jsonl');
    const original = await readFile(file, 'utf8');
    await writeFile(file, original.replace('"user":"alice"', '"user":"alicf"'));
    try {
      const res = await call('GET', '/v1/audit/verify', 'reggie');
      expect(res.json().ok).toBe(false);
      expect(res.json().problem.kind).toBe('altered');
    } finally {
      await writeFile(file, original);
    }
  });
});
