import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { ensureDemoData } from '../../datasets/seed.ts';

/**
 * Generates the demo datasets (with TPC-H at SF 0.01) once per test run; test files open
 * the file read-only from their own data directories.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-test-data-'));
  const { dbPath } = await ensureDemoData({ dataDir: dir, tpchScale: 0.01 });
  project.provide('demoDbPath', dbPath);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    demoDbPath: string;
  }
}
