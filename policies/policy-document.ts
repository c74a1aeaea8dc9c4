import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { isSluiceError, SluiceError } from '../gateway/errors.ts';
import type { ColumnRule, GrantedColumn, RelationGrant, Scope } from './policy-types.ts';
import { parseRowFilter } from './row-filter.ts';
import { foldName } from './sql-lex.ts';

/**
 * An agreement's policy as code: a YAML or JSON document, validated at load with zod. Errors
 * are BAD_REQUEST naming the field path (`policy.grants.citizens.columns.income: ...`).
 *
 * ```yaml
 * agreement: agr-alice-citizens
 * version: 1
 * purpose: Income distribution by district and age
 * grants:
 *   citizens:
 *     columns:                 # unlisted columns are denied
 *       id: allow
 *       name: { mask: redact }                 # every value reads ***
 *       id_card: { mask: hash }                # HMAC-SHA-256 with the agreement secret, hex
 *       birth_date: { mask: generalize, to: year }   # or month
 *       phone: { mask: partial, keepLast: 4 }  # all but the last 4 characters read *
 *       income: { mask: bucket, width: 10000 } # floor(income / 10000) * 10000
 *       tax_paid: aggregate-only               # only inside count/sum/avg/stddev/variance
 *       notes: deny
 *     rowFilter: "district IN ('Pudong', 'Xuhui')"
 *     minGroupSize: 10         # groups aggregating an aggregate-only column; default 10
 * export:
 *   maxRowsPerAnswer: 1000
 *   maxRowsPerDay: 100000
 * ```
 * Structure is checked by `loadPolicyDocument`; `compileScope` checks the document against the
 * catalog (unknown columns, masks on incompatible types, row filters over unknown columns).
 */

const datasetId = /^[a-z][a-z0-9_]*$/;

const maskRule = z.discriminatedUnion(
  'mask',
  [
    z.strictObject({ mask: z.literal('redact') }),
    z.strictObject({ mask: z.literal('hash') }),
    z.strictObject({ mask: z.literal('generalize'), to: z.enum(['year', 'month']) }),
    z.strictObject({ mask: z.literal('partial'), keepLast: z.int().min(0).max(64) }),
    z.strictObject({ mask: z.literal('bucket'), width: z.number().positive().max(1e15) }),
  ],
  { error: 'expected mask redact, hash, generalize, partial or bucket' },
);

const columnRule = z.union([z.enum(['allow', 'deny', 'aggregate-only']), maskRule], {
  error: 'expected allow, deny, aggregate-only or a mask object',
});

const grantSchema = z.strictObject({
  columns: z.record(z.string().min(1).max(128), columnRule),
  rowFilter: z.string().min(1).max(10_000).optional(),
  minGroupSize: z.int().min(1).max(1_000_000).optional(),
});

const documentSchema = z.strictObject({
  agreement: z.string().min(1).max(128),
  version: z.int().min(1),
  purpose: z.string().min(1).max(2000),
  grants: z.record(
    z.string().regex(datasetId, { error: 'dataset ids are lowercase identifiers' }),
    grantSchema,
  ),
  export: z.strictObject({
    maxRowsPerAnswer: z.int().min(1),
    maxRowsPerDay: z.int().min(1),
  }),
});

export type PolicyDocument = z.infer<typeof documentSchema>;
export type PolicyGrant = z.infer<typeof grantSchema>;
export type PolicyColumnRule = z.infer<typeof columnRule>;

/** Default for `minGroupSize` when a grant does not set one. */
export const defaultMinGroupSize = 10;

const maxDocumentBytes = 1_000_000;

function bad(path: readonly PropertyKey[], message: string): SluiceError {
  return new SluiceError('BAD_REQUEST', `${['policy', ...path.map(String)].join('.')}: ${message}`);
}

/**
 * Parses and validates a policy document. Throws BAD_REQUEST naming the first failing field.
 * The row filters are parsed and checked here too (syntax, functions, no subqueries); their
 * columns are checked against the catalog by `compileScope`.
 */
export function loadPolicyDocument(text: string, format: 'yaml' | 'json'): PolicyDocument {
  if (text.length > maxDocumentBytes) throw bad([], 'document is too large');
  let value: unknown;
  try {
    value =
      format === 'json'
        ? JSON.parse(text)
        : parseYaml(text, { uniqueKeys: true, maxAliasCount: 50 });
  } catch {
    throw bad([], `not valid ${format === 'json' ? 'JSON' : 'YAML'}`);
  }
  const result = documentSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    // A mask object that fails inside: name the field within it, not just the column.
    const at = issue.path.reduce<unknown>(
      (v, k) => (v as Record<PropertyKey, unknown> | undefined)?.[k],
      value,
    );
    if (issue.code === 'invalid_union' && at !== null && typeof at === 'object') {
      const inner = maskRule.safeParse(at);
      if (!inner.success) {
        const first = inner.error.issues[0]!;
        throw bad([...issue.path, ...first.path], first.message);
      }
    }
    throw bad(issue.path, issue.message);
  }
  const doc = result.data;
  for (const [dataset, grant] of Object.entries(doc.grants)) {
    const seen = new Set<string>();
    for (const name of Object.keys(grant.columns)) {
      const key = foldName(name);
      if (seen.has(key)) throw bad(['grants', dataset, 'columns', name], 'column is listed twice');
      seen.add(key);
    }
    if (grant.rowFilter !== undefined) rowFilterOrBad(grant.rowFilter, undefined, dataset);
  }
  return doc;
}

function rowFilterOrBad(
  text: string,
  columns: readonly string[] | undefined,
  dataset: string,
): void {
  try {
    parseRowFilter(text, columns);
  } catch (err) {
    if (isSluiceError(err)) throw bad(['grants', dataset, 'rowFilter'], err.message);
    throw err;
  }
}

const numericType =
  /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT|FLOAT|REAL|DOUBLE|DECIMAL(\(\d+(,\s*\d+)?\))?|NUMERIC(\(\d+(,\s*\d+)?\))?)$/;
const temporalType =
  /^(DATE|TIMESTAMP|TIMESTAMPTZ|TIMESTAMP WITH TIME ZONE|TIMESTAMP_S|TIMESTAMP_MS|TIMESTAMP_NS)$/;
const textType = /^(VARCHAR|TEXT|STRING|CHAR|BPCHAR)(\(\d+\))?$/;
const integerType =
  /^(TINYINT|SMALLINT|INTEGER|INT|BIGINT|HUGEINT|UTINYINT|USMALLINT|UINTEGER|UBIGINT|UHUGEINT)$/;

/** Converts one document rule for a column of `type`, or explains why it does not fit. */
function columnRuleFor(rule: PolicyColumnRule, type: string): ColumnRule | string {
  const t = type.trim().toUpperCase();
  if (rule === 'allow') return { kind: 'allow' };
  if (rule === 'deny') return { kind: 'deny' };
  if (rule === 'aggregate-only') return { kind: 'aggregateOnly' };
  switch (rule.mask) {
    case 'redact':
      return { kind: 'redact' };
    case 'hash':
      return { kind: 'hash' };
    case 'generalize':
      return temporalType.test(t)
        ? { kind: 'generalize', to: rule.to }
        : `generalize needs a date or timestamp column, not ${type}`;
    case 'partial':
      return textType.test(t) || integerType.test(t)
        ? { kind: 'partial', keepLast: rule.keepLast }
        : `partial needs a text or integer column, not ${type}`;
    case 'bucket':
      return numericType.test(t)
        ? { kind: 'bucket', width: rule.width }
        : `bucket needs a numeric column, not ${type}`;
  }
}

type Columns = ReadonlyMap<string, readonly { readonly name: string; readonly type: string }[]>;

export interface CompileOptions {
  /** Conditional datasets the principal could apply for but holds no grant on. */
  readonly unlicensed: ReadonlySet<string>;
  /** Per-agreement secret (hex) for the hash mask. */
  readonly hashSecret: string;
  /** Catalog under which the engine attaches the stored datasets. */
  readonly dataCatalog: string;
  /** Unconditional datasets: readable by everyone, all columns, no row filter. */
  readonly unconditional: Columns;
}

function allowAll(
  dataset: string,
  columns: readonly { name: string; type: string }[],
): RelationGrant {
  return {
    dataset,
    columns: columns.map((c) => ({ name: c.name, type: c.type, rule: { kind: 'allow' } })),
    minGroupSize: 1,
  };
}

/**
 * Compiles a policy document (or none: a researcher without an agreement) into the Scope the
 * planner enforces. `catalogColumns` holds the stored columns of the datasets the agreement
 * covers; a grant on a dataset missing there is not compiled (it stays unlicensed). Throws
 * BAD_REQUEST for a grant on an unknown column, a mask on an incompatible type, or a row
 * filter that does not parse or validate against the dataset's columns.
 */
export function compileScope(
  doc: PolicyDocument | null,
  catalogColumns: Columns,
  opts: CompileOptions,
): Scope {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(opts.hashSecret)) {
    throw new SluiceError('INTERNAL', 'the agreement hash secret is not hex');
  }
  const relations = new Map<string, RelationGrant>();
  for (const [id, columns] of opts.unconditional)
    relations.set(foldName(id), allowAll(foldName(id), columns));
  for (const [dataset, grant] of Object.entries(doc?.grants ?? {})) {
    const stored = catalogColumns.get(dataset);
    if (!stored) continue;
    const rules = new Map(
      Object.entries(grant.columns).map(([name, rule]) => [foldName(name), { name, rule }]),
    );
    const columns: GrantedColumn[] = stored.map((c) => {
      const entry = rules.get(foldName(c.name));
      if (!entry) return { name: c.name, type: c.type, rule: { kind: 'deny' } };
      rules.delete(foldName(c.name));
      const rule = columnRuleFor(entry.rule, c.type);
      if (typeof rule === 'string') throw bad(['grants', dataset, 'columns', entry.name], rule);
      return { name: c.name, type: c.type, rule };
    });
    for (const { name } of rules.values())
      throw bad(['grants', dataset, 'columns', name], 'unknown column');
    if (columns.every((c) => c.rule.kind === 'deny'))
      throw bad(['grants', dataset, 'columns'], 'grants no column');
    if (grant.rowFilter !== undefined) {
      rowFilterOrBad(
        grant.rowFilter,
        stored.map((c) => c.name),
        dataset,
      );
    }
    relations.set(dataset, {
      dataset,
      columns,
      ...(grant.rowFilter !== undefined ? { rowFilter: grant.rowFilter } : {}),
      minGroupSize: grant.minGroupSize ?? defaultMinGroupSize,
    });
  }
  const unlicensed = new Set([...opts.unlicensed].map(foldName).filter((d) => !relations.has(d)));
  return { relations, unlicensed, hashSecret: opts.hashSecret, dataCatalog: opts.dataCatalog };
}
