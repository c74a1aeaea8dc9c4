import { createHash } from 'node:crypto';
import { deny, SluiceError } from '../gateway/errors.ts';
import type { ColumnRule, RelationGrant } from './policy-types.ts';
import { reservedPrefix } from './sql-lex.ts';
import type { Call, Expr, Select } from './sql-tree.ts';

/**
 * The policy-shaped view of one dataset: `SELECT <mask(col)> AS "col", ... FROM
 * "<catalog>"."main"."<dataset>" [WHERE (<row filter>)]`, listing granted columns only. When the
 * relation has a row filter, every column expression is also wrapped in
 * `CASE WHEN (<filter>) THEN <expr> END`: DuckDB may push a user predicate below the WHERE,
 * and it must then see only NULLs on rows the filter excludes (no error or timing oracle).
 */

export function shapedName(dataset: string): string {
  return `${reservedPrefix}${dataset}`;
}

const col = (name: string): Expr => ({ kind: 'column', name });
const str = (value: string): Expr => ({ kind: 'string', value });
const num = (text: string): Expr => ({ kind: 'number', text });

function call(name: string, ...args: Expr[]): Call {
  return { kind: 'call', name, args, star: false, distinct: false, orderBy: [] };
}

function concat(left: Expr, right: Expr): Expr {
  return { kind: 'binary', op: '||', left, right };
}

function asText(e: Expr): Expr {
  return { kind: 'cast', expr: e, type: 'VARCHAR' };
}

const padCache = new Map<string, { ipad: string; opad: string }>();

/**
 * HMAC-SHA-256 pads for a hex secret: the key is the secret's bytes, hashed first when longer
 * than the 64-byte block, then zero-padded, XOR 0x36 (inner) and 0x5c (outer). Throws INTERNAL
 * for a secret that is not even-length hex.
 */
export function hmacPads(secretHex: string): { ipad: string; opad: string } {
  const cached = padCache.get(secretHex);
  if (cached) return cached;
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(secretHex)) {
    throw new SluiceError('INTERNAL', 'the agreement hash secret is not hex');
  }
  let key = Buffer.from(secretHex, 'hex');
  if (key.length > 64) key = createHash('sha256').update(key).digest();
  const block = Buffer.alloc(64);
  key.copy(block);
  const ipad = Buffer.from(block.map((b) => b ^ 0x36)).toString('hex');
  const opad = Buffer.from(block.map((b) => b ^ 0x5c)).toString('hex');
  const pads = { ipad, opad };
  if (padCache.size > 1000) padCache.clear();
  padCache.set(secretHex, pads);
  return pads;
}

/** HMAC-SHA-256 of the column's text, lowercase hex, computed by DuckDB. */
function hmac(e: Expr, secretHex: string): Expr {
  const { ipad, opad } = hmacPads(secretHex);
  const inner = call('sha256', concat(call('unhex', str(ipad)), call('encode', asText(e))));
  return call('sha256', concat(call('unhex', str(opad)), call('unhex', inner)));
}

/**
 * The first day of the value's year or month, as a DATE: the day minus its day of the year (or
 * month), less one. Equal to `CAST(date_trunc(unit, value) AS DATE)` on every finite date and
 * cheaper for DuckDB, which matters because a mask runs on every row in scope.
 */
function generalize(c: Expr, to: 'year' | 'month'): Expr {
  const day: Expr = { kind: 'cast', expr: c, type: 'DATE' };
  const offset = call(to === 'year' ? 'dayofyear' : 'dayofmonth', structuredClone(day));
  return {
    kind: 'binary',
    op: '-',
    left: day,
    right: {
      kind: 'cast',
      expr: { kind: 'binary', op: '-', left: offset, right: num('1') },
      type: 'INTEGER',
    },
  };
}

const masks: {
  readonly [K in ColumnRule['kind']]: (
    c: Expr,
    rule: Extract<ColumnRule, { kind: K }>,
    secret: string,
  ) => Expr | undefined;
} = {
  allow: (c) => c,
  aggregateOnly: (c) => c,
  deny: () => undefined,
  redact: () => str('***'),
  hash: (c, _r, secret) => hmac(c, secret),
  generalize: (c, r) => generalize(c, r.to),
  partial: (c, r) => {
    const keep = num(String(r.keepLast));
    const hidden = call(
      'greatest',
      { kind: 'binary', op: '-', left: call('length', asText(c)), right: keep },
      num('0'),
    );
    return concat(call('repeat', str('*'), hidden), call('right', asText(c), keep));
  },
  bucket: (c, r) => ({
    kind: 'binary',
    op: '*',
    left: call('floor', { kind: 'binary', op: '/', left: c, right: num(String(r.width)) }),
    right: num(String(r.width)),
  }),
};

/** Human-readable mask name for the plan (`hash`, `generalize:year`, ...). */
export function maskName(rule: ColumnRule): string | undefined {
  switch (rule.kind) {
    case 'redact':
    case 'hash':
      return rule.kind;
    case 'generalize':
      return `generalize:${rule.to}`;
    case 'partial':
      return `partial:${rule.keepLast}`;
    case 'bucket':
      return `bucket:${rule.width}`;
    default:
      return undefined;
  }
}

/**
 * Builds the shaped select of a grant. `rowFilter` is the parsed filter (policy-document.ts
 * parses and validates it when the policy loads). Throws POLICY_DENIED when nothing is granted.
 */
export function shapedSelect(
  grant: RelationGrant,
  rowFilter: Expr | undefined,
  secretHex: string,
  catalog: string,
  options: {
    /** Read NULL in every column of a row the filter hides (see predicates.ts for when). */
    readonly nullHiddenRows: boolean;
    /** Also expose the stored row's rowid as `rowKey` (top-n.ts), first. */
    readonly rowKey?: string;
  } = { nullHiddenRows: true },
): Select {
  const items = [];
  const { nullHiddenRows, rowKey } = options;
  const columns: { name: string; expr: Expr | undefined }[] = grant.columns.map((c) => ({
    name: c.name,
    expr: (masks[c.rule.kind] as (e: Expr, r: ColumnRule, s: string) => Expr | undefined)(
      col(c.name),
      c.rule,
      secretHex,
    ),
  }));
  if (rowKey !== undefined) columns.unshift({ name: rowKey, expr: col('rowid') });
  for (const { name, expr: masked } of columns) {
    if (masked === undefined) continue;
    const expr: Expr =
      rowFilter && nullHiddenRows
        ? { kind: 'case', whens: [{ when: structuredClone(rowFilter), result: masked }] }
        : masked;
    items.push({ kind: 'item' as const, expr, alias: name });
  }
  if (items.length === (rowKey === undefined ? 0 : 1))
    throw deny.policy(`no column of dataset ${grant.dataset} is granted`);
  return {
    kind: 'select',
    items,
    from: [{ kind: 'table', catalog, schema: 'main', name: grant.dataset }],
    ...(rowFilter ? { where: structuredClone(rowFilter) } : {}),
  };
}
