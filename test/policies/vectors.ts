import { readdirSync, readFileSync } from 'node:fs';
import type { Scope } from '../../policies/policy-types.ts';
import { aliceScope, bobScope, tpchScope } from './support.ts';

/**
 * The planner vector tables in vectors/*.json: `{desc, sql, want, scope?, sqlIncludes?,
 * sqlExcludes?}`, where want is "allow" or {code} and scope defaults to Alice's.
 */

export interface Vector {
  readonly desc: string;
  readonly sql: string;
  readonly want: 'allow' | { readonly code: string };
  readonly scope?: 'alice' | 'bob' | 'tpch';
  readonly sqlIncludes?: readonly string[];
  readonly sqlExcludes?: readonly string[];
}

const dir = new URL('./vectors/', import.meta.url);
export const vectorFiles = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((file) => ({
    file,
    vectors: JSON.parse(readFileSync(new URL(file, dir), 'utf8')) as Vector[],
  }));

export const scopes: Readonly<Record<NonNullable<Vector['scope']>, Scope>> = {
  alice: aliceScope(),
  bob: bobScope(),
  tpch: tpchScope(),
};
