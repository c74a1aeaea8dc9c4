import { describe, expect, it } from 'vitest';
import { isSluiceError } from '../../gateway/errors.ts';
import { planQuery } from '../../policies/planner.ts';
import type { QueryPlan } from '../../policies/policy-types.ts';
import { scopes, type Vector, vectorFiles } from './vectors.ts';

/**
 * Planner decisions as data: every file in vectors/ holds `{desc, sql, want, scope?,
 * sqlIncludes?, sqlExcludes?}` where want is "allow" or {code}. Besides the decision, every
 * allowed plan is checked for what must never be in it, and every denial for what its message
 * must never say.
 */

/** Where the user's query starts, after the planner's shaped CTEs. */
function userPart(plan: QueryPlan): string {
  let rest = plan.sql;
  for (const s of plan.shaped)
    rest = rest.replace(`"${s.name}" AS NOT MATERIALIZED (${s.sql})`, '');
  return rest;
}

function literals(sql: string): string[] {
  return [...sql.matchAll(/'((?:[^']|'')*)'/g)]
    .map((m) => m[1]!.replaceAll("''", "'"))
    .filter((s) => s.length >= 3);
}

function checkAllowed(v: Vector, plan: QueryPlan): void {
  const user = userPart(plan);
  // Nothing outside the granted columns, no raw table, no catalog names in the user part.
  expect(plan.sql).not.toMatch(/phone|tax_records|hospital_visits/);
  expect(user).not.toMatch(/"sluice_data"|"main"\./);
  for (const dataset of plan.datasets) {
    const shadowed = new RegExp(`WITH.*\\b${dataset}\\b.*AS \\(`, 'is').test(v.sql);
    if (!shadowed) expect(user).not.toMatch(new RegExp(`(FROM|JOIN|,) "${dataset}"(?!\\.)`, 'i'));
    expect(plan.shaped.map((s) => s.name)).toContain(`sluice$${dataset}`);
  }
  if (plan.shaped.length > 0) expect(plan.sql.startsWith('WITH "sluice$')).toBe(true);
  for (const s of plan.shaped) expect(plan.sql).toContain(s.sql);
  // The shape never carries a user value.
  expect(plan.shape).not.toMatch(/'/);
  for (const lit of literals(v.sql)) expect(plan.shape).not.toContain(lit);
  for (const s of v.sqlIncludes ?? []) expect(plan.sql).toContain(s);
  for (const s of v.sqlExcludes ?? []) expect(user).not.toContain(s);
}

describe.each(vectorFiles)('$file', ({ vectors }) => {
  it.each(vectors)('$desc', (v) => {
    const scope = scopes[v.scope ?? 'alice'];
    let plan: QueryPlan | undefined;
    let error: unknown;
    try {
      plan = planQuery(v.sql, scope);
    } catch (err) {
      error = err;
    }
    if (v.want === 'allow') {
      if (error) throw error;
      checkAllowed(v, plan!);
      return;
    }
    expect(plan, 'the query was allowed').toBeUndefined();
    expect(isSluiceError(error), String(error)).toBe(true);
    if (!isSluiceError(error)) return;
    expect(error.code).toBe(v.want.code);
    for (const lit of literals(v.sql)) expect(error.message).not.toContain(lit);
    expect(error.message).not.toMatch(/\/[a-z]+\/|at .*\.ts:\d+/);
  });
});

it('has a large vector table', () => {
  const total = vectorFiles.reduce((n, f) => n + f.vectors.length, 0);
  expect(total).toBeGreaterThanOrEqual(200);
});

describe('resource-exhaustion shapes are refused, never a crash', () => {
  const shapes: [string, string][] = [
    [
      '60 nested derived tables',
      `SELECT * FROM ${'(SELECT * FROM '.repeat(60)}airports${') x'.repeat(60)}`,
    ],
    [
      '60 nested EXISTS',
      `SELECT 1 WHERE ${'EXISTS (SELECT 1 WHERE '.repeat(60)}true${')'.repeat(60)}`,
    ],
    ['2000 parentheses', `SELECT ${'('.repeat(2000)}1${')'.repeat(2000)}`],
    ['1500 AND terms', `SELECT 1 WHERE ${Array(1500).fill('true').join(' AND ')}`],
    ['100 UNION operands', Array(100).fill('SELECT 1').join(' UNION ALL ')],
    ['a query over 100 000 characters', `SELECT ${'1 + '.repeat(30_000)}1`],
    [
      'a recursive CTE',
      'WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r',
    ],
  ];
  it.each(shapes)('%s', (_, sql) => {
    let error: unknown;
    try {
      planQuery(sql, scopes.bob);
    } catch (err) {
      error = err;
    }
    expect(isSluiceError(error) && error.code).toBe('UNSUPPORTED_SQL');
  });
});
