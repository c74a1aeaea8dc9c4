import { availableParallelism } from 'node:os';
import { expect, it } from 'vitest';
import { loadConfig } from '../../gateway/config.ts';

const cores = availableParallelism();

it('shares the cores among the regular workers and gives the solo worker all of them', () => {
  const c = loadConfig({ SLUICE_WORKERS: '2' });
  expect(c.workerThreads).toBe(Math.max(1, Math.floor(cores / 2)));
  expect(c.soloWorkerThreads).toBe(cores > c.workerThreads ? cores : 0);
});

it('has no solo worker when the regular workers already get every core', () => {
  const c = loadConfig({ SLUICE_WORKERS: '1', SLUICE_WORKER_THREADS: String(cores) });
  expect(c.soloWorkerThreads).toBe(0);
});

it('takes the solo worker threads from SLUICE_SOLO_WORKER_THREADS, 0 turning it off', () => {
  expect(loadConfig({ SLUICE_SOLO_WORKER_THREADS: '3' }).soloWorkerThreads).toBe(3);
  expect(loadConfig({ SLUICE_SOLO_WORKER_THREADS: '0' }).soloWorkerThreads).toBe(0);
  expect(() => loadConfig({ SLUICE_SOLO_WORKER_THREADS: '-1' })).toThrow(/SOLO_WORKER_THREADS/);
});
