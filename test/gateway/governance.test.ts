import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function post(url: string, user: string, payload: object) {
  return gw.app.inject({ method: 'POST', url, headers: await gw.as(user), payload });
}

async function query(user: string, sql: string) {
  return post('/v1/query', user, { sql });
}

async function lastRecord() {
  return gw.services.ledger.get(gw.services.ledger.size - 1);
}

describe('agencies act on their datasets at once', () => {
  it('suspends on an infringement notice, recorded with the reason, and resumes', async () => {
    const res = await post('/v1/datasets/citizens/suspend', 'carol', {
      reason: 'infringement notice 2026-17',
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ dataset: 'citizens', status: 'suspended' });
    expect(await lastRecord()).toMatchObject({
      action: 'dataset.suspend',
      decision: 'allow',
      user: 'carol',
      datasets: ['citizens'],
      detail: { reason: 'infringement notice 2026-17', status: 'suspended' },
    });
    expect((await query('alice', 'SELECT count(*) FROM citizens')).statusCode).toBe(423);
    const preview = await gw.app.inject({
      method: 'GET',
      url: '/v1/datasets/citizens/preview',
      headers: await gw.as('bob'),
    });
    expect(preview.statusCode).toBe(423);

    expect(
      (await post('/v1/datasets/citizens/resume', 'carol', { reason: 'resolved' })).statusCode,
    ).toBe(200);
    expect((await query('alice', 'SELECT count(*) FROM citizens')).statusCode).toBe(200);
  });

  it('refuses other publishers, other roles, unknown actions and missing reasons', async () => {
    const other = await post('/v1/datasets/flights/suspend', 'carol', { reason: 'x' });
    expect(other.statusCode).toBe(404);
    const researcher = await post('/v1/datasets/citizens/suspend', 'alice', { reason: 'x' });
    expect(researcher.statusCode).toBe(403);
    expect(researcher.json().error.code).toBe('FORBIDDEN');
    expect((await lastRecord()).decision).toBe('deny');
    expect((await post('/v1/datasets/citizens/delete', 'carol', { reason: 'x' })).statusCode).toBe(
      404,
    );
    const noReason = await post('/v1/datasets/citizens/suspend', 'carol', {});
    expect(noReason.statusCode).toBe(400);
    expect((await gw.services.store.getDataset('citizens'))?.status).toBe('active');
  });
});

describe('regulators act on users at once', () => {
  it('restricts data access, keeps the record reviewable, and reinstates', async () => {
    const res = await post('/v1/users/bob/restrict', 'reggie', { reason: 'abnormal use' });
    expect(res.statusCode).toBe(200);
    expect(await lastRecord()).toMatchObject({
      action: 'user.restrict',
      user: 'reggie',
      detail: { subject: 'bob', status: 'restricted' },
    });
    const refused = await query('bob', 'SELECT count(*) FROM airports');
    expect(refused.json().error.code).toBe('ACCESS_RESTRICTED');
    const own = await gw.app.inject({
      method: 'GET',
      url: '/v1/audit/records',
      headers: await gw.as('bob'),
    });
    expect(own.statusCode).toBe(200);

    await post('/v1/users/bob/close', 'reggie', { reason: 'violation confirmed' });
    expect(
      (
        await gw.app.inject({
          method: 'GET',
          url: '/v1/audit/records',
          headers: await gw.as('bob'),
        })
      ).statusCode,
    ).toBe(403);

    await post('/v1/users/bob/reinstate', 'reggie', { reason: 'appeal granted' });
    expect((await query('bob', 'SELECT count(*) FROM airports')).statusCode).toBe(200);
  });

  it('is for regulators only, and not on themselves', async () => {
    expect((await post('/v1/users/bob/restrict', 'carol', { reason: 'x' })).statusCode).toBe(403);
    expect((await post('/v1/users/reggie/close', 'reggie', { reason: 'x' })).statusCode).toBe(403);
    expect((await post('/v1/users/nobody/restrict', 'reggie', { reason: 'x' })).statusCode).toBe(
      404,
    );
    expect((await gw.services.store.getUser('bob'))?.status).toBe('active');
  });
});
