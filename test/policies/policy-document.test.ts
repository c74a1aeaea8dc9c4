import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { isSluiceError } from '../../gateway/errors.ts';
import { compileScope, loadPolicyDocument } from '../../policies/policy-document.ts';
import {
  ALICE_POLICY_TEXT,
  CITIZENS_COLUMNS,
  DATA_CATALOG,
  HASH_SECRET,
  UNCONDITIONAL,
} from './support.ts';

/**
 * Policy documents as data: each vector patches Alice's demo agreement (top-level fields
 * replaced, null removes one) and expects it to compile or to fail with BAD_REQUEST naming
 * the field path. Every vector runs in both YAML and JSON.
 */

interface DocVector {
  readonly desc: string;
  readonly patch: Record<string, unknown>;
  readonly want?: 'ok';
  readonly wantError?: string;
  /** Where the error must arise: "load" (default) or "compile" (needs the catalog). */
  readonly stage?: 'load' | 'compile';
}

const vectors = JSON.parse(
  readFileSync(new URL('./documents/policy-documents.json', import.meta.url), 'utf8'),
) as DocVector[];
const base = parseYaml(ALICE_POLICY_TEXT) as Record<string, unknown>;

function compile(text: string, format: 'yaml' | 'json') {
  const doc = loadPolicyDocument(text, format);
  return compileScope(doc, new Map([['citizens', CITIZENS_COLUMNS]]), {
    unlicensed: new Set(['hospital_visits']),
    hashSecret: HASH_SECRET,
    dataCatalog: DATA_CATALOG,
    unconditional: UNCONDITIONAL,
  });
}

describe.each(['yaml', 'json'] as const)('%s', (format) => {
  it.each(vectors)('$desc', (v) => {
    const doc: Record<string, unknown> = { ...base, ...v.patch };
    for (const [k, val] of Object.entries(v.patch)) if (val === null) delete doc[k];
    const text = format === 'json' ? JSON.stringify(doc) : toYaml(doc);
    if (v.want === 'ok') {
      expect(compile(text, format).relations.size).toBeGreaterThan(0);
      return;
    }
    if (v.stage !== 'compile') {
      expect(() => loadPolicyDocument(text, format)).toThrow();
    } else {
      expect(() => loadPolicyDocument(text, format)).not.toThrow();
    }
    let error: unknown;
    try {
      compile(text, format);
    } catch (err) {
      error = err;
    }
    expect(isSluiceError(error)).toBe(true);
    if (!isSluiceError(error)) return;
    expect(error.code).toBe('BAD_REQUEST');
    expect(error.message.startsWith(v.wantError!)).toBe(true);
  });
});

describe('the demo agreement', () => {
  const scope = compile(ALICE_POLICY_TEXT, 'yaml');
  const citizens = scope.relations.get('citizens')!;
  const rule = (name: string) => citizens.columns.find((c) => c.name === name)?.rule;

  it('has exactly the rules of DESIGN.md', () => {
    expect(rule('id')).toEqual({ kind: 'allow' });
    expect(rule('gender')).toEqual({ kind: 'allow' });
    expect(rule('district')).toEqual({ kind: 'allow' });
    expect(rule('name')).toEqual({ kind: 'redact' });
    expect(rule('id_card')).toEqual({ kind: 'hash' });
    expect(rule('birth_date')).toEqual({ kind: 'generalize', to: 'year' });
    expect(rule('income')).toEqual({ kind: 'aggregateOnly' });
    expect(rule('phone')).toEqual({ kind: 'deny' });
    expect(citizens.rowFilter).toBe("district IN ('Pudong', 'Xuhui')");
    expect(citizens.minGroupSize).toBe(10);
    expect(loadPolicyDocument(ALICE_POLICY_TEXT, 'yaml').export).toEqual({
      maxRowsPerAnswer: 1000,
      maxRowsPerDay: 100000,
    });
  });

  it('keeps unconditional datasets all-allow and the rest unlicensed', () => {
    expect([...scope.relations.keys()].sort()).toEqual(['airports', 'citizens', 'flights']);
    expect(scope.relations.get('flights')!.columns.every((c) => c.rule.kind === 'allow')).toBe(
      true,
    );
    expect(scope.relations.get('flights')!.rowFilter).toBeUndefined();
    expect([...scope.unlicensed]).toEqual(['hospital_visits']);
  });

  it('denies catalog columns the document does not list', () => {
    const s = compileScope(
      loadPolicyDocument(ALICE_POLICY_TEXT, 'yaml'),
      new Map([['citizens', [...CITIZENS_COLUMNS, { name: 'religion', type: 'VARCHAR' }]]]),
      {
        unlicensed: new Set(),
        hashSecret: HASH_SECRET,
        dataCatalog: DATA_CATALOG,
        unconditional: new Map(),
      },
    );
    expect(s.relations.get('citizens')!.columns.find((c) => c.name === 'religion')!.rule).toEqual({
      kind: 'deny',
    });
  });

  it('a researcher without an agreement gets the unconditional datasets only', () => {
    const s = compileScope(null, new Map([['citizens', CITIZENS_COLUMNS]]), {
      unlicensed: new Set(['citizens']),
      hashSecret: '00',
      dataCatalog: DATA_CATALOG,
      unconditional: UNCONDITIONAL,
    });
    expect([...s.relations.keys()].sort()).toEqual(['airports', 'flights']);
    expect([...s.unlicensed]).toEqual(['citizens']);
  });
});

describe('malformed documents', () => {
  it.each([
    ['yaml', 'grants: [unclosed', 'policy: not valid YAML'],
    ['yaml', 'agreement: a\nagreement: b\n', 'policy: not valid YAML'],
    ['json', '{"agreement": ', 'policy: not valid JSON'],
    ['json', '[]', 'policy:'],
  ] as const)('%s %j', (format, text, message) => {
    expect(() => loadPolicyDocument(text, format)).toThrow(message);
  });
});
