import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SpanNode } from '../../gateway/trace-store.ts';
import { startTestGateway, type TestGateway } from '../support/gateway.ts';

/**
 * Traces: every request's spans are kept with its usage record, and exported over OTLP/HTTP
 * to whatever collector the standard OTEL_* variables name (here a real receiver on loopback).
 */
let gw: TestGateway;
let receiver: Server;
const received: { path: string; body: any }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const { port } = receiver.address() as AddressInfo;
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${port}`;
  process.env.OTEL_EXPORTER_OTLP_PROTOCOL = 'http/json';
  gw = await startTestGateway();
});
afterAll(async () => {
  await gw?.close();
  receiver?.close();
});

function names(nodes: SpanNode[]): string[] {
  return nodes.flatMap((n) => [n.name, ...names(n.children)]);
}

async function recordOf(traceId: string, user = 'alice') {
  const reggie = await gw.as('reggie');
  for (let attempt = 0; attempt < 50; attempt++) {
    const list = await gw.app.inject({
      method: 'GET',
      url: `/v1/audit/records?user=${user}`,
      headers: reggie,
    });
    const rec = list.json().records.find((r: { traceId: string }) => r.traceId === traceId);
    if (rec) {
      const one = await gw.app.inject({
        method: 'GET',
        url: `/v1/audit/records/${rec.seq}`,
        headers: reggie,
      });
      if (one.json().trace) return one.json();
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('no trace stored');
}

describe('traces', () => {
  it('keeps a span tree with every stage next to the record, without literals', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: {
        sql: "SELECT district, count(*) AS n FROM citizens WHERE gender = 'female' GROUP BY district",
      },
    });
    expect(res.statusCode).toBe(200);
    const record = await recordOf(res.json().traceId);
    expect(record.spanId).toMatch(/^[0-9a-f]{16}$/);
    expect(record.trace).toHaveLength(1);
    const root = record.trace[0] as SpanNode;
    expect(root.spanId).toBe(record.spanId);
    const all = names(record.trace);
    for (const stage of [
      'sluice.authenticate',
      'sluice.agreement_lookup',
      'sluice.plan',
      'sluice.parse',
      'sluice.policy_check',
      'sluice.rewrite',
      'sluice.export_limits',
      'sluice.engine',
      'sluice.second_check',
      'sluice.execute',
      'sluice.record_write',
    ]) {
      expect(all).toContain(stage);
    }
    const text = JSON.stringify(record.trace);
    expect(text).not.toContain('female');
    expect(text).toContain('sluice.query_shape');
  });

  it('says how the engine read the result: whole under the row cap, streamed without one', async () => {
    const readOf = async (user: 'alice' | 'bob', sql: string) => {
      const res = await gw.app.inject({
        method: 'POST',
        url: '/v1/query',
        headers: await gw.as(user),
        payload: { sql },
      });
      expect(res.statusCode).toBe(200);
      const record = await recordOf(res.json().traceId, user);
      const find = (nodes: SpanNode[]): SpanNode | undefined =>
        nodes.find((n) => n.name === 'sluice.execute') ??
        nodes.map((n) => find(n.children)).find((n) => n !== undefined);
      return find(record.trace)?.attributes['sluice.result_read'];
    };
    // Alice's agreement caps answers at 1,000 rows: her SQL carries LIMIT 1001.
    expect(await readOf('alice', 'SELECT id FROM citizens')).toBe('whole');
    // Unconditional data is capped at 100,000 rows: too many to compute whole.
    expect(await readOf('bob', 'SELECT iata FROM airports')).toBe('streamed');
  });

  it('traces denials too, with the error code', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: { sql: 'SELECT phone FROM citizens' },
    });
    expect(res.statusCode).toBe(403);
    const record = await recordOf(String(res.headers['x-sluice-trace-id']));
    expect(record.trace[0].attributes['sluice.error_code']).toBe('POLICY_DENIED');
  });

  it('continues an incoming W3C trace context', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: { ...(await gw.as('alice')), traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
      payload: { sql: 'SELECT count(*) AS n FROM citizens' },
    });
    expect(res.json().traceId).toBe(traceId);
  });

  it('exports spans over OTLP/HTTP to the configured collector', async () => {
    const res = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: { sql: 'SELECT gender, count(*) AS n FROM citizens GROUP BY gender' },
    });
    const traceId = res.json().traceId;
    await gw.services.telemetry.flush();
    const spans = received
      .filter((r) => r.path === '/v1/traces')
      .flatMap((r) => r.body.resourceSpans)
      .flatMap((rs: any) => rs.scopeSpans)
      .flatMap((ss: any) => ss.spans);
    const mine = spans.filter((s: any) => s.traceId === traceId);
    expect(mine.map((s: any) => s.name)).toEqual(
      expect.arrayContaining(['sluice.plan', 'sluice.engine', 'sluice.record_write']),
    );
  });
});

describe('the plan cache', () => {
  it('serves a repeated query from the cache, and the answer stays the same', async () => {
    const sql =
      'SELECT district, avg(income) AS mean FROM citizens GROUP BY district ORDER BY district';
    const first = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: { sql },
    });
    const second = await gw.app.inject({
      method: 'POST',
      url: '/v1/query',
      headers: await gw.as('alice'),
      payload: { sql },
    });
    expect(second.json().rows).toEqual(first.json().rows);
    const planSpan = async (traceId: string) => {
      const record = await recordOf(traceId);
      const find = (nodes: SpanNode[]): SpanNode | undefined =>
        nodes.find((n) => n.name === 'sluice.plan') ?? find(nodes.flatMap((n) => n.children));
      return find(record.trace)!;
    };
    expect((await planSpan(first.json().traceId)).attributes['sluice.plan_cache']).toBe('miss');
    expect((await planSpan(second.json().traceId)).attributes['sluice.plan_cache']).toBe('hit');
  });
});
