import type {
  ColumnRef,
  Expr,
  ExprKind,
  FromItem,
  Query,
  QueryBody,
  SelectItem,
} from './sql-tree.ts';

/**
 * Whether a query holds a predicate that DuckDB's optimizer might evaluate below a relation's
 * row filter and that could fail there: a WHERE, HAVING, JOIN condition or aggregate FILTER
 * that is not plainly infallible (see `infallible`), any INTERSECT/EXCEPT, or a subquery used as
 * an expression (those become joins with conditions). Such expressions can be pushed under the
 * filter and meet hidden rows; an error raised by a hidden row's value would be an oracle, so
 * the shaped relations of such a query read NULL in every column of a hidden row. A query
 * without them only projects, groups, orders, aggregates and filters by comparisons that cannot
 * fail, so it reads plain columns: a hidden row reaching such a comparison can only be dropped.
 * Deny by default: anything not listed here counts as a fallible predicate.
 *
 * `valueTypes` holds the type of the value each column reference reads (check.ts), when the
 * reference reads one stored column; comparisons need it to know that no cast per row happens.
 */
export function hasPushablePredicates(
  query: Query,
  valueTypes: ReadonlyMap<ColumnRef, string> = new Map(),
): boolean {
  types = valueTypes;
  try {
    return queryHas(query);
  } finally {
    types = new Map();
  }
}

// The scan is synchronous and not re-entrant, so the types of the query being scanned can live
// here for its duration instead of being threaded through every helper.
let types: ReadonlyMap<ColumnRef, string> = new Map();

/** A predicate counts unless it is infallible and holds no subquery or FILTER. */
function predicateHas(e: Expr | undefined): boolean {
  return e !== undefined && (exprHas(e) || !infallible(e));
}

type Family = 'number' | 'text' | 'time' | 'bool';

/** Types whose values compare with each other and with a literal of the family without a cast that could fail. */
function familyOf(type: string | undefined): Family | undefined {
  if (type === undefined) return undefined;
  const t = type.toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\))$/.test(t)) {
    return 'number';
  }
  if (t === 'VARCHAR' || /^ENUM\(/.test(t)) return 'text';
  if (t === 'DATE' || t === 'TIMESTAMP') return 'time';
  if (t === 'BOOLEAN') return 'bool';
  return undefined;
}

/**
 * The family an operand brings to a comparison: a column reference of known type, or a
 * literal. A string literal is cast once to the other side's type (a constant, so any error
 * does not depend on data); it fits every family.
 */
function operandFamily(e: Expr): Family | 'string' | undefined {
  switch (e.kind) {
    case 'column':
      return familyOf(types.get(e));
    case 'number':
      return 'number';
    case 'string':
      return 'string';
    case 'typed':
      return e.type === 'TIME' ? undefined : 'time';
    case 'bool':
      return 'bool';
    default:
      return undefined;
  }
}

function comparable(a: Expr, b: Expr): boolean {
  const fa = operandFamily(a);
  const fb = operandFamily(b);
  if (fa === undefined || fb === undefined) return false;
  if (a.kind !== 'column' && b.kind !== 'column') return false; // literals alone: not our case
  return fa === fb || fa === 'string' || fb === 'string';
}

const comparisons = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);
const likes = new Set(['LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE']);

/**
 * True only for predicates that cannot raise an error on any row: comparisons (also IN lists,
 * BETWEEN, LIKE with a literal pattern) between a column and a literal or another column of the
 * same type family, IS [NOT] NULL/TRUE/FALSE of a column, combined with AND, OR and NOT.
 * Arithmetic, functions and casts can fail (overflow, conversion) and are not infallible.
 */
function infallible(e: Expr): boolean {
  switch (e.kind) {
    case 'bool':
    case 'null':
      return true;
    case 'column':
      return familyOf(types.get(e)) === 'bool';
    case 'unary':
      return e.op === 'NOT' && infallible(e.expr);
    case 'is':
      return e.expr.kind === 'column' && types.has(e.expr);
    case 'binary':
      if (e.op === 'AND' || e.op === 'OR') return infallible(e.left) && infallible(e.right);
      if (comparisons.has(e.op)) return comparable(e.left, e.right);
      if (likes.has(e.op)) {
        return (
          e.left.kind === 'column' &&
          familyOf(types.get(e.left)) === 'text' &&
          e.right.kind === 'string'
        );
      }
      return false;
    case 'inList':
      return (
        e.expr.kind === 'column' &&
        e.list.every((v) => v.kind !== 'column' && comparable(e.expr, v))
      );
    case 'between':
      return (
        e.expr.kind === 'column' &&
        e.low.kind !== 'column' &&
        e.high.kind !== 'column' &&
        comparable(e.expr, e.low) &&
        comparable(e.expr, e.high)
      );
    default:
      return false;
  }
}

function queryHas(q: Query): boolean {
  return (
    q.with.some((cte) => queryHas(cte.query)) ||
    bodyHas(q.body) ||
    q.orderBy.some((o) => exprHas(o.expr))
  );
}

function bodyHas(body: QueryBody): boolean {
  switch (body.kind) {
    case 'query':
      return queryHas(body);
    case 'setop':
      return body.op !== 'UNION' || bodyHas(body.left) || bodyHas(body.right);
    case 'select':
      return (
        predicateHas(body.where) ||
        predicateHas(body.having) ||
        body.from.some(fromHas) ||
        body.items.some(itemHas) ||
        (body.distinct?.on ?? []).some(exprHas) ||
        (body.groupBy ?? []).some((g) =>
          g.kind === 'expr' ? exprHas(g.expr) : g.sets.some((set) => set.some(exprHas)),
        )
      );
    default:
      return true;
  }
}

function fromHas(item: FromItem): boolean {
  switch (item.kind) {
    case 'table':
      return false;
    case 'derived':
      return queryHas(item.query);
    case 'join':
      return (
        predicateHas(item.on) ||
        item.using !== undefined ||
        fromHas(item.left) ||
        fromHas(item.right)
      );
    default:
      return true;
  }
}

function itemHas(item: SelectItem): boolean {
  return item.kind === 'item' ? exprHas(item.expr) : false;
}

/** Per expression kind: does it (or anything inside it) count as a predicate? */
const exprHasByKind: { readonly [K in ExprKind]: (e: Extract<Expr, { kind: K }>) => boolean } = {
  column: () => false,
  number: () => false,
  string: () => false,
  bool: () => false,
  null: () => false,
  typed: () => false,
  interval: () => false,
  unary: (e) => exprHas(e.expr),
  binary: (e) => exprHas(e.left) || exprHas(e.right),
  between: (e) => exprHas(e.expr) || exprHas(e.low) || exprHas(e.high),
  inList: (e) => exprHas(e.expr) || e.list.some(exprHas),
  inQuery: () => true,
  exists: () => true,
  scalarQuery: () => true,
  is: (e) => exprHas(e.expr),
  case: (e) =>
    (e.operand !== undefined && exprHas(e.operand)) ||
    e.whens.some((w) => exprHas(w.when) || exprHas(w.result)) ||
    (e.else !== undefined && exprHas(e.else)),
  cast: (e) => exprHas(e.expr),
  extract: (e) => exprHas(e.source),
  position: (e) => exprHas(e.needle) || exprHas(e.haystack),
  call: (e) =>
    predicateHas(e.filter) ||
    e.args.some(exprHas) ||
    e.orderBy.some((o) => exprHas(o.expr)) ||
    (e.over !== undefined &&
      (e.over.partitionBy.some(exprHas) || e.over.orderBy.some((o) => exprHas(o.expr)))),
};

function exprHas(e: Expr): boolean {
  const check = exprHasByKind[e.kind] as ((e: Expr) => boolean) | undefined;
  return check === undefined ? true : check(e);
}
