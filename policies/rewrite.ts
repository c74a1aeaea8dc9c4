import type { Analysis } from './check.ts';
import { shapedName } from './shaped-relation.ts';
import {
  type Cte,
  type Expr,
  type ExprKind,
  type FromItem,
  freezeTree,
  type GroupingItem,
  type OrderItem,
  type Query,
  type QueryBody,
  type Select,
  type WindowSpec,
} from './sql-tree.ts';

/**
 * Rewrites a checked query into the query that runs. It returns a new frozen tree and changes
 * exactly two things:
 * - every base-table reference reads the shaped relation `"sluice$<dataset>"` instead, under
 *   the user's alias (or the table name as written, so `citizens.id` still resolves), and a
 *   CTE reference spelled in another case than its declaration uses the declared spelling;
 * - every block that aggregates an aggregate-only column gets `count(*) >= <minGroupSize>`
 *   AND-ed into its HAVING (each group, and with ROLLUP/CUBE/GROUPING SETS each subtotal
 *   row, must have enough rows).
 * The shaped relations are prepended to the top-level WITH list as NOT MATERIALIZED CTEs.
 */

class Rewriter {
  private readonly analysis: Analysis;

  constructor(analysis: Analysis) {
    this.analysis = analysis;
  }

  private readonly exprs: { readonly [K in ExprKind]: (e: Extract<Expr, { kind: K }>) => Expr } = {
    column: (e) => e,
    number: (e) => e,
    string: (e) => e,
    bool: (e) => e,
    null: (e) => e,
    typed: (e) => e,
    interval: (e) => e,
    unary: (e) => ({ ...e, expr: this.expr(e.expr) }),
    binary: (e) => ({ ...e, left: this.expr(e.left), right: this.expr(e.right) }),
    between: (e) => ({
      ...e,
      expr: this.expr(e.expr),
      low: this.expr(e.low),
      high: this.expr(e.high),
    }),
    inList: (e) => ({ ...e, expr: this.expr(e.expr), list: e.list.map((x) => this.expr(x)) }),
    inQuery: (e) => ({ ...e, expr: this.expr(e.expr), query: this.query(e.query) }),
    exists: (e) => ({ ...e, query: this.query(e.query) }),
    scalarQuery: (e) => ({ ...e, query: this.query(e.query) }),
    is: (e) => ({ ...e, expr: this.expr(e.expr) }),
    case: (e) => ({
      ...e,
      ...(e.operand ? { operand: this.expr(e.operand) } : {}),
      whens: e.whens.map((w) => ({ when: this.expr(w.when), result: this.expr(w.result) })),
      ...(e.else ? { else: this.expr(e.else) } : {}),
    }),
    cast: (e) => ({ ...e, expr: this.expr(e.expr) }),
    extract: (e) => ({ ...e, source: this.expr(e.source) }),
    position: (e) => ({ ...e, needle: this.expr(e.needle), haystack: this.expr(e.haystack) }),
    call: (e) => ({
      ...e,
      args: e.args.map((a) => this.expr(a)),
      orderBy: this.orderItems(e.orderBy),
      ...(e.filter ? { filter: this.expr(e.filter) } : {}),
      ...(e.over ? { over: this.window(e.over) } : {}),
    }),
  };

  expr(e: Expr): Expr {
    return (this.exprs[e.kind] as (x: Expr) => Expr)(e);
  }

  private orderItems(items: readonly OrderItem[]): OrderItem[] {
    return items.map((o) => ({ ...o, expr: this.expr(o.expr) }));
  }

  private window(w: WindowSpec): WindowSpec {
    return {
      ...w,
      partitionBy: w.partitionBy.map((p) => this.expr(p)),
      orderBy: this.orderItems(w.orderBy),
    };
  }

  query(q: Query): Query {
    return {
      ...q,
      with: q.with.map((c): Cte => ({ ...c, query: this.query(c.query) })),
      body: this.body(q.body),
      orderBy: this.orderItems(q.orderBy),
    };
  }

  private body(b: QueryBody): QueryBody {
    if (b.kind === 'select') return this.select(b);
    if (b.kind === 'query') return this.query(b);
    return { ...b, left: this.body(b.left), right: this.body(b.right) };
  }

  private from(f: FromItem): FromItem {
    if (f.kind === 'table') {
      const dataset = this.analysis.baseRefs.get(f);
      if (dataset !== undefined)
        return { kind: 'table', name: shapedName(dataset), alias: f.alias ?? f.name };
      const cte = this.analysis.cteRefs.get(f);
      if (cte !== undefined && cte !== f.name)
        return { kind: 'table', name: cte, alias: f.alias ?? f.name };
      return f;
    }
    if (f.kind === 'derived') return { ...f, query: this.query(f.query) };
    return {
      ...f,
      left: this.from(f.left),
      right: this.from(f.right),
      ...(f.on ? { on: this.expr(f.on) } : {}),
    };
  }

  private grouping(g: GroupingItem): GroupingItem {
    if (g.kind === 'expr') return { kind: 'expr', expr: this.expr(g.expr) };
    return { kind: g.kind, sets: g.sets.map((s) => s.map((e) => this.expr(e))) };
  }

  private select(s: Select): Select {
    const min = this.analysis.groupSize.get(s);
    let having = s.having ? this.expr(s.having) : undefined;
    if (min !== undefined) {
      const enough: Expr = {
        kind: 'binary',
        op: '>=',
        left: { kind: 'call', name: 'count', args: [], star: true, distinct: false, orderBy: [] },
        right: { kind: 'number', text: String(min) },
      };
      having = having ? { kind: 'binary', op: 'AND', left: having, right: enough } : enough;
    }
    return {
      kind: 'select',
      ...(s.distinct ? { distinct: { on: s.distinct.on.map((e) => this.expr(e)) } } : {}),
      items: s.items.map((i) => (i.kind === 'item' ? { ...i, expr: this.expr(i.expr) } : i)),
      from: s.from.map((f) => this.from(f)),
      ...(s.where ? { where: this.expr(s.where) } : {}),
      ...(s.groupBy ? { groupBy: s.groupBy.map((g) => this.grouping(g)) } : {}),
      ...(having ? { having } : {}),
    };
  }
}

/** The query that runs: `shaped` CTEs first, then the user's rewritten query. */
export function rewriteQuery(q: Query, analysis: Analysis, shaped: readonly Cte[]): Query {
  const out = new Rewriter(analysis).query(q);
  return freezeTree({ ...out, with: [...shaped, ...out.with] });
}
