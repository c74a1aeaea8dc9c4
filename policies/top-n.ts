import type { Analysis } from './check.ts';
import { aggregateFunctions, windowFunctions } from './function-allowlist.ts';
import { foldName, reservedPrefix } from './sql-lex.ts';
import {
  type ColumnRef,
  type Expr,
  exprChildren,
  type Query,
  type Select,
  type TableRef,
} from './sql-tree.ts';

/**
 * Masks after the top-N. A listing such as `SELECT id, id_card FROM citizens ORDER BY id
 * LIMIT 100` reads the shaped relation, whose masks (an HMAC per row for `id_card`) DuckDB
 * computes for every row in scope before its top-N keeps 100 of them. For such a block the
 * planner picks the rows first and masks only those:
 *
 *   SELECT <items> FROM "sluice$citizens" AS citizens
 *   WHERE "sluice$row" IN (SELECT "sluice$row" FROM "sluice$citizens" AS citizens
 *                          WHERE <where> ORDER BY <order> LIMIT <limit + offset>)
 *   ORDER BY <order> LIMIT <limit> OFFSET <offset>
 *
 * `"sluice$row"` is the stored row's `rowid`, a column only the planner's shaped relation
 * has (user identifiers may not start with `sluice$`). The inner query needs no masked column,
 * so DuckDB prunes the masks from it; the outer one masks only the rows the inner one chose.
 * The answer is one the original query could give: the inner query picks a valid first
 * `limit + offset` rows and the outer one orders exactly those. Nothing about what is read
 * changes: both halves read the same shaped relation, masks and row filter included.
 */

/** The shaped relation's column holding the stored row's id, for `deferMasks`. */
export const ROW_KEY = `${reservedPrefix}row`;

/** Beyond this many rows, picking them first costs more than masking a few extra. */
const MAX_ROWS = 10_000;

/**
 * The dataset whose masks a plain top-N block over it can defer, or undefined. Only a
 * top-level `SELECT ... FROM <one dataset> [WHERE] ORDER BY <its columns> LIMIT n` qualifies:
 * no WITH, DISTINCT, GROUP BY, HAVING, aggregate, window or subquery, ORDER BY on stored columns
 * only (not on output aliases or positions), and `usesMask` true for the dataset.
 */
export function topNDataset(
  query: Query,
  analysis: Analysis,
  usesMask: (dataset: string) => boolean,
): string | undefined {
  const body = query.body;
  if (query.with.length > 0 || body.kind !== 'select' || query.limit === undefined) return;
  if (query.orderBy.length === 0) return;
  if (Number(query.limit) + Number(query.offset ?? 0) > MAX_ROWS) return;
  if (body.distinct || body.groupBy || body.having || analysis.groupSize.has(body)) return;
  const [from, ...more] = body.from;
  if (!from || more.length > 0 || from.kind !== 'table') return;
  const dataset = analysis.baseRefs.get(from);
  if (dataset === undefined || !usesMask(dataset)) return;
  const exprs = [
    ...body.items.flatMap((i) => (i.kind === 'item' ? [i.expr] : [])),
    ...(body.where ? [body.where] : []),
  ];
  if (!exprs.every(plainScalar)) return;
  for (const o of query.orderBy) {
    if (o.expr.kind !== 'column' || !analysis.valueTypes.has(o.expr)) return;
    if (!sameMeaningInOutput(o.expr, body)) return;
  }
  return dataset;
}

/**
 * An ORDER BY name that is also an output name must mean the same column there (DuckDB
 * resolves ORDER BY names against the output first, the inner query against the table).
 */
function sameMeaningInOutput(ref: ColumnRef, body: Select): boolean {
  const key = foldName(ref.name);
  return body.items.every((item) => {
    if (item.kind === 'star') return true;
    const name = item.alias ?? (item.expr.kind === 'column' ? item.expr.name : undefined);
    if (name === undefined || foldName(name) !== key) return true;
    return (
      item.expr.kind === 'column' &&
      foldName(item.expr.name) === key &&
      (item.expr.table === undefined ||
        ref.table === undefined ||
        foldName(item.expr.table) === foldName(ref.table))
    );
  });
}

/** A row-by-row expression: no aggregate, window function or subquery anywhere in it. */
function plainScalar(e: Expr): boolean {
  if (e.kind === 'inQuery' || e.kind === 'exists' || e.kind === 'scalarQuery') return false;
  if (e.kind === 'call') {
    const name = e.name.toLowerCase();
    const plainCall =
      !aggregateFunctions.has(name) &&
      !windowFunctions.has(name) &&
      e.over === undefined &&
      e.filter === undefined &&
      !e.star &&
      !e.distinct &&
      e.orderBy.length === 0;
    if (!plainCall) return false;
  }
  return exprChildren(e).every(plainScalar);
}

/**
 * Rewrites a rewritten (shaped) query that `topNDataset` accepted into the pick-then-mask form
 * above. Its shaped relation must have been built with the `ROW_KEY` column; `columns` are the
 * relation's other columns, in order, which a `*` item is spelled out as (so that `*` does not
 * show the key).
 */
export function deferMasks(query: Query, columns: readonly string[]): Query {
  const body = query.body as Select;
  const from = body.from[0] as TableRef;
  const qualifier = from.alias ?? from.name;
  const column = (name: string): Expr => ({ kind: 'column', table: qualifier, name });
  const rowKey = () => column(ROW_KEY);
  const items = body.items.flatMap((item) =>
    item.kind === 'star'
      ? columns.map((name) => ({ kind: 'item' as const, expr: column(name) }))
      : [item],
  );
  const picked = Number(query.limit) + Number(query.offset ?? 0);
  const inner: Query = {
    kind: 'query',
    with: [],
    body: {
      kind: 'select',
      items: [{ kind: 'item', expr: rowKey() }],
      from: [structuredClone(from)],
      ...(body.where ? { where: structuredClone(body.where) } : {}),
    },
    orderBy: structuredClone(query.orderBy),
    limit: String(picked),
  };
  const { where: _where, ...rest } = body;
  return {
    ...query,
    body: {
      ...rest,
      items,
      where: { kind: 'inQuery', not: false, expr: rowKey(), query: inner },
    },
  };
}
