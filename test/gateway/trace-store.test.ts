import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import type { SpanRecord } from '../../gateway/telemetry.ts';
import { TraceStore } from '../../gateway/trace-store.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'sluice-traces-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const span = (name: string): SpanRecord => ({
  name,
  spanId: '0123456789abcdef',
  parentSpanId: null,
  start: '2026-11-29T00:00:00.000Z',
  durationMs: 1.5,
  status: 'ok',
  attributes: { 'sluice.stage': name, note: 'ü' },
});
const id = (i: number) => i.toString(16).padStart(32, '0');

it('writes traces put together in one go, finds each, and finds them again after reopening', async () => {
  const store = await TraceStore.open(dir);
  const puts = Array.from({ length: 50 }, (_, i) => store.put(id(i + 1), [span(`s${i}`)]));
  // Asked for before its write finished, a trace is still found.
  expect(await store.get(id(7))).toEqual([span('s6')]);
  await Promise.all(puts);
  await store.put(id(99), [span('late')]);
  expect(await store.get(id(50))).toEqual([span('s49')]);
  expect(await store.get(id(1000))).toBeNull();
  await store.close();
  expect(readFileSync(path.join(dir, 'traces.jsonl'), 'utf8').trim().split('\n')).toHaveLength(51);

  const again = await TraceStore.open(dir);
  expect(await again.get(id(99))).toEqual([span('late')]);
  expect(await again.get(id(25))).toEqual([span('s24')]);
  await again.close();
});
