import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { DatasetEntry } from '../datasets/catalog-types.ts';
import type { ControlState } from './store.ts';

export const DEMO_USERS = ['alice', 'bob', 'carol', 'reggie'] as const;

const ONE_YEAR_MS = 365 * 24 * 3600 * 1000;

/** The demo's people and Alice's agreement (DESIGN.md, "The demo"), seeded on first start. */
export async function demoControlState(
  datasets: readonly DatasetEntry[],
  now = new Date(),
): Promise<ControlState> {
  const policyText = await readFile(
    new URL('../policies/demo/agr-alice-citizens.yaml', import.meta.url),
    'utf8',
  );
  return {
    users: [
      {
        subject: 'alice',
        name: 'Alice',
        role: 'researcher',
        org: 'Fudan University',
        status: 'active',
      },
      { subject: 'bob', name: 'Bob', role: 'researcher', org: 'Independent', status: 'active' },
      {
        subject: 'carol',
        name: 'Carol',
        role: 'agency',
        org: 'Civil Affairs Bureau',
        status: 'active',
      },
      {
        subject: 'reggie',
        name: 'Reggie',
        role: 'regulator',
        org: 'Big Data Center',
        status: 'active',
      },
    ],
    agreements: [
      {
        id: 'agr-alice-citizens',
        user: 'alice',
        datasets: ['citizens'],
        purpose: 'Income distribution by district and age',
        policyText,
        policyFormat: 'yaml',
        policyVersion: 1,
        status: 'active',
        signedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + ONE_YEAR_MS).toISOString(),
        secret: randomBytes(32).toString('hex'),
      },
    ],
    datasets: [...datasets],
  };
}
