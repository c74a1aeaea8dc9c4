import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * Limits that need their own gateway: a short query timeout, a tiny daily quota, and users
 * whose access a regulator restricted or closed.
 */
let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway(
    { queryTimeoutMs: 400 },
    {
      control: (state) => ({
        ...state,
        users: state.users
          .map((u) => (u.subject === 'bob' ? { ...u, status: 'restricted' as const } : u))
          .concat([
            {
              subject: 'dave',
              name: 'Dave',
              role: 'researcher',
              org: 'Tongji University',
              status: 'closed',
            },
            {
              subject: 'erin',
              name: 'Erin',
              role: 'researcher',
              org: 'Fudan University',
              status: 'active',
            },
          ]),
        agreements: state.agreements.map((a) =>
          a.id === 'agr-alice-citizens'
            ? {
                ...a,
                policyText: a.policyText.replace('maxRowsPerDay: 100000', 'maxRowsPerDay: 1500'),
              }
            : a,
        ),
      }),
    },
  );
});
afterAll(async () => {
  await gw?.close();
});

async function query(user: string, sql: string) {
  return gw.app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: await gw.as(user),
    payload: { sql },
  });
}

describe('limits', () => {
  it('interrupts a query that runs too long, and the engine keeps serving', async () => {
    const slow = await query(
      'erin',
      'SELECT count(*) FROM flights a, flights b WHERE a.delay < b.delay',
    );
    expect(slow.statusCode).toBe(408);
    expect(slow.json().error.code).toBe('TIMEOUT');
    const next = await query('erin', 'SELECT count(*) AS n FROM airports');
    expect(next.statusCode).toBe(200);
  });

  it('spends the daily quota exactly, then refuses', async () => {
    const first = await query('alice', 'SELECT id FROM citizens');
    expect(first.json()).toMatchObject({ rowCount: 1000, truncated: true });
    const second = await query('alice', 'SELECT id FROM citizens');
    expect(second.json()).toMatchObject({ rowCount: 500, truncated: true });
    const third = await query('alice', 'SELECT id FROM citizens');
    expect(third.statusCode).toBe(429);
    expect(third.json().error.code).toBe('LIMIT_EXCEEDED');
    const record = await gw.services.ledger.get(gw.services.ledger.size - 2);
    expect(record.quota).toMatchObject({ used: 1500, limit: 1500 });
  });

  it('refuses restricted and closed users', async () => {
    const restricted = await query('bob', 'SELECT count(*) FROM airports');
    expect(restricted.statusCode).toBe(403);
    expect(restricted.json().error.code).toBe('ACCESS_RESTRICTED');
    const closed = await query('dave', 'SELECT count(*) FROM airports');
    expect(closed.statusCode).toBe(403);
    expect(closed.json().error.code).toBe('ACCESS_RESTRICTED');
  });

  it('refuses SQL longer than the limit', async () => {
    const res = await query('erin', `SELECT 1 ${' '.repeat(100_001)}`);
    expect(res.statusCode).toBe(413);
    expect(res.json().error.code).toBe('PAYLOAD_TOO_LARGE');
  });
});
