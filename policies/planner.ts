import { checkQuery } from './check.ts';
import type { QueryPlan, RelationGrant, Scope } from './policy-types.ts';
import { hasPushablePredicates } from './predicates.ts';
import { queryShape } from './query-shape.ts';
import { rewriteQuery } from './rewrite.ts';
import { parseRowFilter, typedRowFilter } from './row-filter.ts';
import { maskName, shapedName, shapedSelect } from './shaped-relation.ts';
import { foldName } from './sql-lex.ts';
import { parseQuery } from './sql-parse.ts';
import { renderExpr, renderQuery, renderSelect } from './sql-render.ts';
import type { Cte, Expr, Query } from './sql-tree.ts';
import { deferMasks, ROW_KEY, topNDataset } from './top-n.ts';

/**
 * The SQL planner: parse (with the lexical normalizer), check against the scope, rewrite onto
 * policy-shaped relations, render. Pure and synchronous. Throws SluiceError: PARSE_ERROR,
 * UNSUPPORTED_SQL, POLICY_DENIED or NOT_LICENSED.
 */

const filterCache = new Map<string, Expr>();

/** Parsed row filter of a grant, validated against the grant's columns (cached by text). */
function rowFilterOf(grant: RelationGrant): Expr | undefined {
  if (grant.rowFilter === undefined) return undefined;
  const columns = grant.columns.map((c) => c.name);
  const key = `${grant.dataset}\u0000${grant.columns.map((c) => `${c.name} ${c.type}`).join('\u0000')}\u0000${grant.rowFilter}`;
  let expr = filterCache.get(key);
  if (!expr) {
    expr = typedRowFilter(
      parseRowFilter(grant.rowFilter, columns),
      new Map(grant.columns.map((c) => [foldName(c.name), c.type])),
    );
    if (filterCache.size > 1000) filterCache.clear();
    filterCache.set(key, expr);
  }
  return expr;
}

/**
 * The query with its outer LIMIT lowered to `maxRows + 1` (or added): the answer never holds
 * more than `maxRows` rows, and the one extra row tells the engine the answer was cut. The
 * engine then never computes rows nobody will see: an ORDER BY becomes a top-N, and a result
 * known to be small can be read in one piece (sandbox/engine-worker.ts).
 */
function capRows(query: Query, maxRows: number | undefined): Query {
  if (maxRows === undefined) return query;
  const cap = BigInt(maxRows) + 1n;
  if (query.limit !== undefined && BigInt(query.limit) <= cap) return query;
  return { ...query, limit: cap.toString() };
}

/**
 * Plans one user query under `scope`; the returned `sql` is the only SQL that may run for it.
 * With `maxRows` (the export policy's rows per answer), the SQL returns at most one row more.
 */
export function planQuery(sql: string, scope: Scope, limits: { maxRows?: number } = {}): QueryPlan {
  const started = performance.now();
  const parsedTree = parseQuery(sql);
  const parsed = performance.now();
  const analysis = checkQuery(parsedTree, scope);
  const checked = performance.now();
  // The analysis is keyed by the nodes below the root, which the capped root shares.
  const tree = capRows(parsedTree, limits.maxRows);
  const nullHiddenRows = hasPushablePredicates(tree, analysis.valueTypes);
  const used = new Set(analysis.columns.map((c) => `${c.dataset}\u0000${c.column}`));
  const masks: { dataset: string; column: string; mask: string }[] = [];
  for (const dataset of analysis.datasets) {
    for (const c of scope.relations.get(dataset)!.columns) {
      const mask = maskName(c.rule);
      if (mask && used.has(`${dataset}\u0000${c.name}`))
        masks.push({ dataset, column: c.name, mask });
    }
  }
  const topN = topNDataset(tree, analysis, (d) => masks.some((m) => m.dataset === d));
  const shaped: { name: string; dataset: string; sql: string }[] = [];
  const ctes: Cte[] = [];
  const rowFilters: { dataset: string; filter: string }[] = [];
  for (const dataset of analysis.datasets) {
    const grant = scope.relations.get(dataset)!;
    const filter = rowFilterOf(grant);
    const select = shapedSelect(grant, filter, scope.hashSecret, scope.dataCatalog, {
      nullHiddenRows,
      ...(dataset === topN ? { rowKey: ROW_KEY } : {}),
    });
    const name = shapedName(dataset);
    ctes.push({
      name,
      query: { kind: 'query', with: [], body: select, orderBy: [] },
      notMaterialized: true,
    });
    shaped.push({ name, dataset, sql: renderSelect(select) });
    if (filter) rowFilters.push({ dataset, filter: renderExpr(filter) });
  }
  const rewritten = rewriteQuery(tree, analysis, ctes);
  const rendered = renderQuery(
    topN === undefined
      ? rewritten
      : deferMasks(
          rewritten,
          scope.relations
            .get(topN)!
            .columns.filter((c) => c.rule.kind !== 'deny')
            .map((c) => c.name),
        ),
  );
  const shape = queryShape(parsedTree);
  const bound = tree.limit === undefined ? undefined : Number(tree.limit);
  return {
    sql: rendered,
    shaped,
    ...(bound !== undefined && Number.isSafeInteger(bound) ? { rowBound: bound } : {}),
    datasets: analysis.datasets,
    columns: analysis.columns,
    masks,
    rowFilters,
    shape,
    timings: {
      parseMs: parsed - started,
      checkMs: checked - parsed,
      rewriteMs: performance.now() - checked,
    },
  };
}
