import { tableFromIPC } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

let gw: TestGateway;

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
});

async function get(url: string, user?: string) {
  return gw.app.inject({ method: 'GET', url, headers: user ? await gw.as(user) : {} });
}

const ids = (body: { datasets: { id: string }[] }) => body.datasets.map((d) => d.id);

describe('the open list', () => {
  it('lists datasets with their open-list entries and never non-open data for researchers', async () => {
    for (const user of [undefined, 'alice', 'bob']) {
      const res = await get('/v1/datasets', user);
      expect(res.statusCode).toBe(200);
      const list = ids(res.json());
      expect(list).toEqual(
        expect.arrayContaining(['citizens', 'hospital_visits', 'flights', 'airports']),
      );
      expect(list).not.toContain('tax_records');
    }
    const citizens = (await get('/v1/datasets'))
      .json()
      .datasets.find((d: { id: string }) => d.id === 'citizens');
    expect(citizens).toMatchObject({
      openType: 'conditional',
      publisher: 'Civil Affairs Bureau',
      status: 'active',
    });
    for (const field of ['title', 'domain', 'summary', 'format', 'conditions', 'updateFrequency']) {
      expect(typeof citizens[field]).toBe('string');
    }
    expect(citizens.items.map((i: { name: string }) => i.name)).toContain('income');
  });

  it('shows non-open data to regulators and its own publisher only', async () => {
    expect(ids((await get('/v1/datasets', 'reggie')).json())).toContain('tax_records');
    expect(ids((await get('/v1/datasets', 'carol')).json())).not.toContain('tax_records');
    expect((await get('/v1/datasets/tax_records', 'alice')).statusCode).toBe(404);
    expect((await get('/v1/datasets/tax_records')).statusCode).toBe(404);
    expect((await get('/v1/datasets/tax_records', 'reggie')).statusCode).toBe(200);
  });

  it('serves one entry, and NOT_FOUND for an unknown id', async () => {
    const res = await get('/v1/datasets/flights');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ id: 'flights', openType: 'unconditional' });
    const missing = await get('/v1/datasets/nope');
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('NOT_FOUND');
  });

  it('refuses an invalid token even on public pages', async () => {
    const res = await gw.app.inject({
      method: 'GET',
      url: '/v1/datasets',
      headers: { authorization: 'Bearer not.a.token' },
    });
    expect(res.statusCode).toBe(401);
  });
});

describe('previews', () => {
  it('previews conditional data masked by the default policy', async () => {
    const res = await get('/v1/datasets/citizens/preview', 'bob');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    const names = body.columns.map((c: { name: string }) => c.name);
    expect(body.rowCount).toBeGreaterThan(0);
    for (const sensitive of ['name', 'id_card', 'phone', 'income']) {
      const i = names.indexOf(sensitive);
      expect(i).toBeGreaterThanOrEqual(0);
      for (const row of body.rows) expect(row[i]).toBe('***');
    }
    expect(res.body).not.toMatch(/1[3-9]\d{9}/);
  });

  it('previews unconditional data as it is, and requires a token', async () => {
    const res = await get('/v1/datasets/airports/preview', 'bob');
    expect(res.statusCode).toBe(200);
    expect(res.json().rowCount).toBe(10);
    expect((await get('/v1/datasets/airports/preview')).statusCode).toBe(401);
  });

  it('never previews non-open data', async () => {
    expect((await get('/v1/datasets/tax_records/preview', 'alice')).statusCode).toBe(404);
    const res = await get('/v1/datasets/tax_records/preview', 'reggie');
    expect(res.statusCode).toBe(403);
    expect(res.json().error.code).toBe('FORBIDDEN');
  });
});

describe('downloads', () => {
  it('streams unconditional data in every format', async () => {
    const csv = await get('/v1/datasets/airports/download?format=csv', 'bob');
    expect(csv.statusCode).toBe(200);
    expect(csv.headers['content-type']).toContain('text/csv');
    const lines = csv.body.trim().split('\n');
    expect(lines.length).toBeGreaterThan(1000);
    expect(decodeURIComponent(String(csv.headers['x-sluice-attribution']))).toContain('vega');

    const json = await get('/v1/datasets/airports/download?format=json', 'bob');
    expect(json.statusCode).toBe(200);
    const first = JSON.parse(json.body.split('\n')[0]!);
    expect(Object.keys(first).length).toBeGreaterThan(2);

    const parquet = await get('/v1/datasets/airports/download?format=parquet', 'bob');
    expect(parquet.statusCode).toBe(200);
    expect(parquet.rawPayload.subarray(0, 4).toString()).toBe('PAR1');

    const arrow = await get('/v1/datasets/airports/download?format=arrow', 'bob');
    expect(arrow.statusCode).toBe(200);
    expect(tableFromIPC(arrow.rawPayload).numRows).toBe(lines.length - 1);
  });

  it('refuses conditional and non-open data, unknown formats and anonymous users', async () => {
    const conditional = await get('/v1/datasets/citizens/download?format=csv', 'alice');
    expect(conditional.statusCode).toBe(403);
    expect(conditional.json().error.code).toBe('FORBIDDEN');
    expect((await get('/v1/datasets/tax_records/download', 'alice')).statusCode).toBe(404);
    const badFormat = await get('/v1/datasets/airports/download?format=xlsx', 'bob');
    expect(badFormat.statusCode).toBe(400);
    expect(badFormat.json().error.code).toBe('BAD_REQUEST');
    expect((await get('/v1/datasets/airports/download')).statusCode).toBe(401);
  });
});

describe('health', () => {
  it('answers', async () => {
    const res = await get('/health');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok' });
  });
});
