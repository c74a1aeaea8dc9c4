import type { Expr, ExprKind, FromItem, Query, QueryBody, SelectItem } from './sql-tree.ts';

/**
 * Whether a query holds anything DuckDB's optimizer might evaluate below a relation's row
 * filter: a WHERE, HAVING, JOIN condition, aggregate FILTER, INTERSECT/EXCEPT, or a subquery
 * used as an expression (those become joins with conditions). Such expressions can be pushed
 * under the filter and meet hidden rows, so the shaped relations of such a query read NULL in
 * every column of a hidden row. A query with none of them only projects, groups, orders and
 * aggregates, which DuckDB always does above the filter, so it can read plain columns.
 * Deny by default: anything not listed here counts as a predicate.
 */
export function hasPushablePredicates(query: Query): boolean {
  return queryHas(query);
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
        body.where !== undefined ||
        body.having !== undefined ||
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
        item.on !== undefined ||
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
    e.filter !== undefined ||
    e.args.some(exprHas) ||
    e.orderBy.some((o) => exprHas(o.expr)) ||
    (e.over !== undefined &&
      (e.over.partitionBy.some(exprHas) || e.over.orderBy.some((o) => exprHas(o.expr)))),
};

function exprHas(e: Expr): boolean {
  const check = exprHasByKind[e.kind] as ((e: Expr) => boolean) | undefined;
  return check === undefined ? true : check(e);
}
