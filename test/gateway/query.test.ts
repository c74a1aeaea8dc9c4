import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function query(user: string | null, body: unknown, headers: Record<string, string> = {}) {
  const auth = user ? await gw.as(user) : {};
  return gw.app.inject({
    method: 'POST',
    url: '/v1/query',
    headers: { ...auth, ...headers },
    payload: body as object,
  });
}

const PHONE = /^1[3-9]\d{9}$/;

describe('alice under agr-alice-citizens', () => {
  it('gets masked, filtered rows with typed columns and an attribution', async () => {
    const res = await query('alice', {
      sql: 'SELECT id, name, id_card, birth_date, gender, district FROM citizens ORDER BY id LIMIT 50',
    });
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.columns.map((c: { name: string }) => c.name)).toEqual([
      'id',
      'name',
      'id_card',
      'birth_date',
      'gender',
      'district',
    ]);
    expect(body.rowCount).toBe(50);
    expect(body.truncated).toBe(false);
    expect(body.queryId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.traceId).toMatch(/^[0-9a-f]{32}$/);
    for (const [, name, idCard, birth, , district] of body.rows) {
      expect(name).toBe('***');
      expect(idCard).toMatch(/^[0-9a-f]{64}$/);
      expect(birth).toMatch(/^\d{4}-01-01$/);
      expect(['Pudong', 'Xuhui']).toContain(district);
    }
    expect(body.attribution.datasets[0]).toMatchObject({
      id: 'citizens',
      publisher: 'Civil Affairs Bureau',
    });
    expect(body.attribution.citation).toContain('Civil Affairs Bureau');
  });

  it('answers a masked top-N listing as the same listing over a subquery does', async () => {
    // The first form picks rows before masking them (policies/top-n.ts); the second cannot.
    const listing = 'id, id_card, birth_date, district FROM citizens';
    const picked = await query('alice', {
      sql: `SELECT ${listing} WHERE gender = 'female' ORDER BY birth_date DESC, id LIMIT 40 OFFSET 5`,
    });
    const plain = await query('alice', {
      sql: `SELECT * FROM (SELECT ${listing} WHERE gender = 'female') t ORDER BY birth_date DESC, id LIMIT 40 OFFSET 5`,
    });
    expect(picked.statusCode).toBe(200);
    expect(picked.json().rowCount).toBe(40);
    expect(picked.json().rows).toEqual(plain.json().rows);
  });

  it('sees only the districts of the row filter, whatever the query asks', async () => {
    const res = await query('alice', {
      sql: "SELECT district, count(*) AS n FROM citizens WHERE district IN ('Pudong', 'Jingan', 'Xuhui') GROUP BY district ORDER BY district",
    });
    expect(res.statusCode).toBe(200);
    expect(res.json().rows.map((r: unknown[]) => r[0])).toEqual(['Pudong', 'Xuhui']);
  });

  it('aggregates income in large enough groups only', async () => {
    const ok = await query('alice', {
      sql: 'SELECT district, avg(income) AS mean_income, count(*) AS n FROM citizens GROUP BY district',
    });
    expect(ok.statusCode).toBe(200);
    for (const [, mean, n] of ok.json().rows) {
      expect(typeof mean).toBe('number');
      expect(n).toBeGreaterThanOrEqual(10);
    }
    const small = await query('alice', {
      sql: 'SELECT id, sum(income) FROM citizens GROUP BY id',
    });
    expect(small.statusCode).toBe(200);
    expect(small.json().rowCount).toBe(0);
  });

  it('cuts answers at 1,000 rows and says so', async () => {
    const res = await query('alice', { sql: 'SELECT id FROM citizens' });
    expect(res.statusCode).toBe(200);
    expect(res.json().rowCount).toBe(1000);
    expect(res.json().rows).toHaveLength(1000);
    expect(res.json().truncated).toBe(true);
  });

  it.each([
    ['a column that is not granted', 'SELECT phone FROM citizens', 'POLICY_DENIED'],
    [
      'a predicate on a column that is not granted',
      "SELECT id FROM citizens WHERE phone LIKE '13%'",
      'POLICY_DENIED',
    ],
    ['a bare aggregate-only column', 'SELECT income FROM citizens', 'POLICY_DENIED'],
    ['a dataset outside the agreement', 'SELECT * FROM hospital_visits', 'NOT_LICENSED'],
    ['a non-open dataset', 'SELECT * FROM tax_records', 'POLICY_DENIED'],
    ['a file function', "SELECT * FROM read_csv('/etc/passwd')", 'UNSUPPORTED_SQL'],
    ['a file path as a table', "SELECT * FROM '/etc/passwd'", 'POLICY_DENIED'],
    ['a system catalog', 'SELECT * FROM information_schema.tables', 'POLICY_DENIED'],
    ['a settings function', "SELECT current_setting('threads')", 'POLICY_DENIED'],
    ['a second statement', 'SELECT 1; SELECT 2', 'UNSUPPORTED_SQL'],
    ['a write', 'DELETE FROM citizens', 'UNSUPPORTED_SQL'],
    ['text that is not SQL', 'SELEC id FROM', 'PARSE_ERROR'],
  ])('is refused %s', async (_desc, sql, code) => {
    const res = await query('alice', { sql });
    expect(res.json().error.code).toBe(code);
    expect(res.statusCode).toBe(code === 'PARSE_ERROR' || code === 'UNSUPPORTED_SQL' ? 400 : 403);
    expect(res.json().error.requestId).toBeTruthy();
    expect(res.body).not.toMatch(PHONE);
  });

  it.each([
    "SELECT count(*) AS n FROM citizens WHERE CAST(CASE WHEN district = 'Jingan' THEN 'x' ELSE '1' END AS INTEGER) = 1",
    "SELECT count(*) AS n FROM (SELECT district FROM citizens) t WHERE CAST(CASE WHEN t.district = 'Minhang' THEN 'x' ELSE '1' END AS INTEGER) = 1",
    "SELECT CAST(CASE WHEN district = 'Jingan' THEN 'x' ELSE '1' END AS INTEGER) AS v, count(*) AS n FROM citizens GROUP BY v",
    "SELECT id FROM citizens ORDER BY CAST(CASE WHEN district = 'Jingan' THEN 'x' ELSE '1' END AS INTEGER), id LIMIT 5",
  ])('cannot make hidden rows raise an error: %s', async (sql) => {
    const res = await query('alice', { sql });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rowCount).toBeGreaterThan(0);
  });

  it('returns Arrow IPC when asked', async () => {
    const { tableFromIPC } = await import('apache-arrow');
    const res = await query(
      'alice',
      { sql: 'SELECT district, count(*) AS n FROM citizens GROUP BY district ORDER BY district' },
      { accept: 'application/vnd.apache.arrow.stream' },
    );
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('application/vnd.apache.arrow.stream');
    const table = tableFromIPC(res.rawPayload);
    expect(table.numRows).toBe(2);
    expect(table.getChild('district')?.toArray()).toEqual(['Pudong', 'Xuhui']);
    expect(res.headers['x-sluice-truncated']).toBe('false');
  });

  it('names an agreement that is not hers as missing', async () => {
    const res = await query('alice', { sql: 'SELECT 1', agreement: 'agr-nobody' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });
});

describe('other principals', () => {
  it('bob has no agreement: conditional data is not licensed, unconditional data is open', async () => {
    const denied = await query('bob', { sql: 'SELECT count(*) FROM citizens' });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.code).toBe('NOT_LICENSED');
    const open = await query('bob', {
      sql: 'SELECT count(*) AS n FROM airports',
    });
    expect(open.statusCode).toBe(200);
    expect(open.json().rows[0][0]).toBeGreaterThan(1000);
    expect(open.json().attribution.datasets[0].id).toBe('airports');
  });

  it('agencies and regulators do not run queries', async () => {
    for (const user of ['carol', 'reggie']) {
      const res = await query(user, { sql: 'SELECT count(*) FROM airports' });
      expect(res.statusCode).toBe(403);
      expect(res.json().error.code).toBe('FORBIDDEN');
    }
  });

  it('requires a token', async () => {
    const res = await query(null, { sql: 'SELECT 1' });
    expect(res.statusCode).toBe(401);
    expect(res.json().error.code).toBe('UNAUTHENTICATED');
  });
});

describe('request validation', () => {
  it.each([
    [{}, 'no sql'],
    [{ sql: '' }, 'empty sql'],
    [{ sql: 1 }, 'sql not a string'],
    [{ sql: 'SELECT 1', extra: true }, 'an unknown field'],
  ])('answers BAD_REQUEST for %j (%s)', async (body, _desc) => {
    const res = await query('alice', body);
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('answers BAD_REQUEST for a body that is not JSON', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: { ...(await gw.as('alice')), 'content-type': 'application/json' },
      payload: '{"sql": ',
    });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code).toBe('BAD_REQUEST');
  });

  it('answers NOT_FOUND for an unknown endpoint', async () => {
    const res = await gw.app.inject({ method: 'GET', url: '/v1/nothing' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error.code).toBe('NOT_FOUND');
  });
});

describe('dataset status', () => {
  it('a suspended dataset stops queries at once, and resuming restores them', async () => {
    await gw.services.store.setDatasetStatus('citizens', 'suspended');
    try {
      const res = await query('alice', { sql: 'SELECT count(*) FROM citizens' });
      expect(res.statusCode).toBe(423);
      expect(res.json().error.code).toBe('DATASET_SUSPENDED');
    } finally {
      await gw.services.store.setDatasetStatus('citizens', 'active');
    }
    const res = await query('alice', { sql: 'SELECT count(*) FROM citizens' });
    expect(res.statusCode).toBe(200);
  });
});

describe('failures inside the gateway', () => {
  it('wraps an engine error without echoing the value that caused it', async () => {
    const res = await query('bob', { sql: 'SELECT CAST(name AS INTEGER) AS n FROM airports' });
    expect(res.statusCode).toBe(400);
    expect(res.json().error.code, res.body).toBe('QUERY_ERROR');
    const { rows } = (await query('bob', { sql: 'SELECT name FROM airports LIMIT 50' })).json();
    expect(rows.length).toBe(50);
    for (const [name] of rows) expect(res.body).not.toContain(String(name));
  });

  it('sends no answer when the usage record cannot be written', async () => {
    const { buildApp } = await import('../../gateway/app.ts');
    const broken = await buildApp({
      services: {
        ...gw.services,
        recorder: { append: () => Promise.reject(new Error('disk full')) },
      },
    });
    try {
      const res = await broken.inject({
        method: 'POST',
        url: '/v1/query',
        headers: await gw.as('alice'),
        payload: { sql: 'SELECT district, count(*) AS n FROM citizens GROUP BY district' },
      });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toEqual({
        error: {
          code: 'RECORD_UNAVAILABLE',
          message: expect.any(String),
          requestId: expect.any(String),
        },
      });
      expect(res.body).not.toContain('Pudong');
    } finally {
      await broken.close();
    }
  });
});
