import { deny } from '../gateway/errors.ts';
import {
  aggregateFunctions,
  aggregateOnlyFunctions,
  isAllowedFunction,
  windowFunctions,
} from './function-allowlist.ts';
import type { ColumnUse, Scope } from './policy-types.ts';
import {
  baseRelation,
  type ColumnInfo,
  CteScope,
  Level,
  type Lookup,
  lookupColumn,
  type Member,
  type Relation,
  renameColumns,
  resolveTable,
  usingMember,
} from './resolve.ts';
import { foldName, shownName } from './sql-lex.ts';
import type {
  Call,
  ColumnRef,
  Expr,
  ExprKind,
  FromItem,
  OrderItem,
  Query,
  QueryBody,
  Select,
  TableRef,
} from './sql-tree.ts';

/**
 * Checks a parsed query against a scope, walking every block with its name scope:
 * - every table is a CTE in scope or a granted dataset (resolve.ts decides the error);
 * - every column resolves, and none is `deny`;
 * - `*` never expands over an aggregate-only column;
 * - functions are allow-listed, aggregates sit only in SELECT/HAVING/ORDER BY and are not
 *   nested, window functions sit only in SELECT/ORDER BY and are not nested;
 * - an aggregate-only column appears only as the bare, sole argument of an allowed aggregate
 *   (no DISTINCT, FILTER, ORDER BY or OVER, nothing windowed around it), in a block whose
 *   FROM is exactly that one table reference. Such blocks are returned in `groupSize`, so the
 *   rewrite can require `count(*) >= minGroupSize` of every group they produce.
 * Throws POLICY_DENIED, NOT_LICENSED or UNSUPPORTED_SQL; returns what the rewrite needs.
 */

export interface Analysis {
  /** Every base-table reference and the dataset it reads. */
  readonly baseRefs: ReadonlyMap<TableRef, string>;
  /** Every CTE reference and the CTE's name as declared (the second check compares exactly). */
  readonly cteRefs: ReadonlyMap<TableRef, string>;
  /** Datasets read, in order of first reference. */
  readonly datasets: readonly string[];
  /** Blocks aggregating an aggregate-only column, with the minimum group size to enforce. */
  readonly groupSize: ReadonlyMap<Select, number>;
  readonly columns: readonly ColumnUse[];
  /** Column references that read one stored column, with the type of the value they read. */
  readonly valueTypes: ReadonlyMap<ColumnRef, string>;
}

type Clause =
  | 'select'
  | 'where'
  | 'on'
  | 'groupBy'
  | 'having'
  | 'orderBy'
  | 'distinctOn'
  | 'setOrderBy';

const aggregateClauses: ReadonlySet<Clause> = new Set(['select', 'having', 'orderBy']);
const windowClauses: ReadonlySet<Clause> = new Set(['select', 'orderBy']);

interface Ctx {
  readonly level: Level;
  /** The block being checked, when the position belongs to one. */
  readonly block: Select | undefined;
  readonly blockLevel: Level | undefined;
  readonly ctes: CteScope;
  readonly clause: Clause;
  readonly projected: boolean;
  readonly inAggregate: boolean;
  readonly inWindow: boolean;
  /** Set only while checking the bare column that is the sole argument of this aggregate. */
  readonly directArgOf?: Call;
  /** A bare ORDER BY item, where DuckDB prefers select-list aliases. */
  readonly orderItem?: boolean;
}

interface Output {
  readonly columns: readonly ColumnInfo[];
  /** The select list expanded a `*`. */
  readonly star: boolean;
}

const clauseNames: Readonly<Record<Clause, string>> = {
  select: 'SELECT',
  where: 'WHERE',
  on: 'JOIN conditions',
  groupBy: 'GROUP BY',
  having: 'HAVING',
  orderBy: 'ORDER BY',
  distinctOn: 'DISTINCT ON',
  setOrderBy: 'ORDER BY of a set operation',
};

class Checker {
  private readonly scope: Scope;
  private readonly baseRefs = new Map<TableRef, string>();
  private readonly cteRefs = new Map<TableRef, string>();
  private readonly datasets: string[] = [];
  private readonly groupSize = new Map<Select, number>();
  private readonly uses = new Map<string, ColumnUse>();
  private readonly valueTypes = new Map<ColumnRef, string>();

  constructor(scope: Scope) {
    this.scope = scope;
  }

  result(): Analysis {
    return {
      baseRefs: this.baseRefs,
      cteRefs: this.cteRefs,
      datasets: this.datasets,
      groupSize: this.groupSize,
      columns: [...this.uses.values()],
      valueTypes: this.valueTypes,
    };
  }

  private use(dataset: string, column: string, projected: boolean): void {
    const key = `${dataset}\u0000${column}`;
    const prev = this.uses.get(key);
    if (prev?.usage === 'projected') return;
    this.uses.set(key, { dataset, column, usage: projected ? 'projected' : 'filtered' });
  }

  // -------------------------------------------------------------- queries

  query(q: Query, outer: Level | undefined, ctes: CteScope, projected: boolean): Output {
    let scope = ctes;
    const names = new Set<string>();
    for (const cte of q.with) {
      const key = foldName(cte.name);
      if (names.has(key)) throw deny.policy(`CTE ${shownName(cte.name)} is defined twice`);
      names.add(key);
      const out = this.query(cte.query, outer, scope, projected);
      if (cte.columns && out.star)
        throw deny.unsupported('unsupported SQL: CTE column list over *');
      scope = scope.with({ name: cte.name, columns: renameColumns(out.columns, cte.columns) });
    }
    const { output, level, block } = this.body(q.body, outer, scope, projected);
    if (q.orderBy.length > 0) {
      if (block && level) {
        this.orderBy(q.orderBy, {
          ...this.blockCtx(block, level, scope, projected),
          clause: 'orderBy',
        });
      } else {
        const view = new Level('output', outer, [{ alias: '', columns: output.columns }]);
        const ctx: Ctx = {
          level: view,
          block: undefined,
          blockLevel: undefined,
          ctes: scope,
          clause: 'setOrderBy',
          projected: false,
          inAggregate: false,
          inWindow: false,
        };
        this.orderBy(q.orderBy, ctx);
      }
    }
    return output;
  }

  private blockCtx(block: Select, level: Level, ctes: CteScope, projected: boolean): Ctx {
    return {
      level,
      block,
      blockLevel: level,
      ctes,
      clause: 'select',
      projected,
      inAggregate: false,
      inWindow: false,
    };
  }

  private body(
    b: QueryBody,
    outer: Level | undefined,
    ctes: CteScope,
    projected: boolean,
  ): { output: Output; level?: Level; block?: Select } {
    if (b.kind === 'select') {
      const { output, level } = this.select(b, outer, ctes, projected);
      return { output, level, block: b };
    }
    if (b.kind === 'query') return { output: this.query(b, outer, ctes, projected) };
    const left = this.body(b.left, outer, ctes, projected).output;
    const right = this.body(b.right, outer, ctes, projected).output;
    if (left.columns.length !== right.columns.length) {
      throw deny.policy(`${b.op} operands have different numbers of columns`);
    }
    return {
      output: {
        columns: left.columns.map((c) => ({ name: c.name })),
        star: left.star || right.star,
      },
    };
  }

  private select(
    s: Select,
    outer: Level | undefined,
    ctes: CteScope,
    projected: boolean,
  ): { output: Output; level: Level } {
    const level = new Level('block', outer);
    for (const item of s.from) this.fromItem(item, level, outer, ctes, projected);
    const aliases = new Set<string>();
    for (const item of s.items)
      if (item.kind === 'item' && item.alias !== undefined) aliases.add(foldName(item.alias));
    for (const a of aliases) level.aliases.add(a);
    const ctx = this.blockCtx(s, level, ctes, projected);
    const columns: ColumnInfo[] = [];
    let star = false;
    for (const item of s.items) {
      if (item.kind === 'star') {
        star = true;
        columns.push(...this.star(level, item.table, projected));
        continue;
      }
      this.expr(item.expr, { ...ctx, clause: 'select' });
      const name = item.alias ?? (item.expr.kind === 'column' ? item.expr.name : undefined);
      columns.push({ name });
    }
    if (s.distinct) for (const e of s.distinct.on) this.expr(e, { ...ctx, clause: 'distinctOn' });
    if (s.where) this.expr(s.where, { ...ctx, clause: 'where' });
    if (s.groupBy) {
      for (const g of s.groupBy) {
        const exprs = g.kind === 'expr' ? [g.expr] : g.sets.flat();
        for (const e of exprs) this.expr(e, { ...ctx, clause: 'groupBy' });
      }
    }
    if (s.having) this.expr(s.having, { ...ctx, clause: 'having' });
    return { output: { columns, star }, level };
  }

  /** Columns a `*` or `t.*` expands to; refuses relations with aggregate-only columns. */
  private star(level: Level, table: string | undefined, projected: boolean): ColumnInfo[] {
    const relations =
      table === undefined
        ? level.relations
        : level.relations.filter((r) => r.alias !== '' && foldName(r.alias) === foldName(table));
    if (table !== undefined && relations.length === 0)
      throw deny.policy(`unknown table or alias ${shownName(table)}`);
    if (table !== undefined && relations.length > 1)
      throw deny.policy(`table name ${shownName(table)} is ambiguous`);
    if (relations.length === 0) throw deny.policy('* needs a FROM clause');
    const out: ColumnInfo[] = [];
    const seenMerged = new Set<string>();
    for (const r of relations) {
      const aggregateOnly = r.columns.find((c) => c.base?.rule.kind === 'aggregateOnly');
      if (aggregateOnly) {
        throw deny.policy(
          `* would include aggregate-only column ${shownName(aggregateOnly.name ?? '')}: list the columns you need instead`,
        );
      }
      for (const c of r.columns) {
        if (c.base?.rule.kind === 'deny') continue;
        const group =
          table === undefined
            ? level.merges.find((g) => g.members.some((m) => m.relation === r && m.column === c))
            : undefined;
        if (group) {
          if (seenMerged.has(group.key)) continue;
          seenMerged.add(group.key);
        }
        if (c.base) this.use(c.base.dataset, c.base.column, projected);
        out.push({ name: c.name });
      }
    }
    return out;
  }

  // -------------------------------------------------------------- FROM

  private fromItem(
    item: FromItem,
    level: Level,
    outer: Level | undefined,
    ctes: CteScope,
    projected: boolean,
  ): void {
    if (item.kind === 'table') {
      this.addRelation(level, this.table(item, ctes));
      return;
    }
    if (item.kind === 'derived') {
      // DuckDB lets a subquery in FROM see the FROM items before it, LATERAL or not.
      const lateral = new Level('lateral', outer, [...level.relations]);
      const out = this.query(item.query, lateral, ctes, projected);
      if (item.columns && out.star)
        throw deny.unsupported('unsupported SQL: column alias list over *');
      this.addRelation(level, {
        alias: item.alias ?? '',
        columns: renameColumns(out.columns, item.columns),
      });
      return;
    }
    this.fromItem(item.left, level, outer, ctes, projected);
    const leftRelations = [...level.relations];
    this.fromItem(item.right, level, outer, ctes, projected);
    if (item.on) {
      const view = new Level('on', outer, [...level.relations]);
      view.merges = [...level.merges];
      this.expr(item.on, {
        level: view,
        block: undefined,
        blockLevel: undefined,
        ctes,
        clause: 'on',
        projected: false,
        inAggregate: false,
        inWindow: false,
      });
    }
    if (item.using) {
      const rightRelations = level.relations.filter((r) => !leftRelations.includes(r));
      for (const name of item.using) {
        const members = [
          ...usingMember(leftRelations, level.merges, name),
          ...usingMember(rightRelations, level.merges, name),
        ];
        for (const m of members) this.checkMember(m, { name }, 'on', false);
        const key = foldName(name);
        level.merges = [
          ...level.merges.filter(
            (g) => !(g.key === key && g.members.some((x) => members.includes(x))),
          ),
          { key, members },
        ];
      }
    }
  }

  private addRelation(level: Level, relation: Relation): void {
    if (relation.alias !== '') {
      const key = foldName(relation.alias);
      if (level.relations.some((r) => foldName(r.alias) === key)) {
        throw deny.policy(
          `table name ${shownName(relation.alias)} is used twice in one FROM clause`,
        );
      }
    }
    level.relations.push(relation);
  }

  private table(ref: TableRef, ctes: CteScope): Relation {
    const target = resolveTable(ref, ctes, this.scope);
    if (target.kind === 'cte') {
      this.cteRefs.set(ref, target.def.name);
      return { alias: ref.alias ?? ref.name, columns: target.def.columns };
    }
    const dataset = target.grant.dataset;
    this.baseRefs.set(ref, dataset);
    if (!this.datasets.includes(dataset)) this.datasets.push(dataset);
    return baseRelation(ref, target.grant);
  }

  // -------------------------------------------------------------- expressions

  private orderBy(items: readonly OrderItem[], ctx: Ctx): void {
    for (const o of items) this.expr(o.expr, { ...ctx, orderItem: o.expr.kind === 'column' });
  }

  private readonly exprs: {
    readonly [K in ExprKind]: (e: Extract<Expr, { kind: K }>, ctx: Ctx) => void;
  } = {
    column: (e, ctx) => this.column(e, ctx),
    number: () => {},
    string: () => {},
    bool: () => {},
    null: () => {},
    typed: () => {},
    interval: () => {},
    unary: (e, ctx) => this.expr(e.expr, ctx),
    binary: (e, ctx) => {
      this.expr(e.left, ctx);
      this.expr(e.right, ctx);
    },
    between: (e, ctx) => {
      this.expr(e.expr, ctx);
      this.expr(e.low, ctx);
      this.expr(e.high, ctx);
    },
    inList: (e, ctx) => {
      this.expr(e.expr, ctx);
      for (const x of e.list) this.expr(x, ctx);
    },
    inQuery: (e, ctx) => {
      this.expr(e.expr, ctx);
      this.subquery(e.query, ctx);
    },
    exists: (e, ctx) => this.subquery(e.query, ctx),
    scalarQuery: (e, ctx) => this.subquery(e.query, ctx),
    is: (e, ctx) => this.expr(e.expr, ctx),
    case: (e, ctx) => {
      if (e.operand) this.expr(e.operand, ctx);
      for (const w of e.whens) {
        this.expr(w.when, ctx);
        this.expr(w.result, ctx);
      }
      if (e.else) this.expr(e.else, ctx);
    },
    cast: (e, ctx) => this.expr(e.expr, ctx),
    extract: (e, ctx) => this.expr(e.source, ctx),
    position: (e, ctx) => {
      this.expr(e.needle, ctx);
      this.expr(e.haystack, ctx);
    },
    call: (e, ctx) => this.call(e, ctx),
  };

  private expr(e: Expr, ctx: Ctx): void {
    const inner: Ctx =
      e.kind === 'column' || ctx.orderItem === undefined ? ctx : { ...ctx, orderItem: false };
    const next: Ctx =
      e.kind === 'column' || inner.directArgOf === undefined
        ? inner
        : { ...inner, directArgOf: undefined };
    (this.exprs[e.kind] as (x: Expr, c: Ctx) => void)(e, next);
  }

  private subquery(q: Query, ctx: Ctx): void {
    this.query(q, ctx.level, ctx.ctes, ctx.projected && ctx.clause === 'select');
  }

  private call(e: Call, ctx: Ctx): void {
    if (!isAllowedFunction(e.name))
      throw deny.policy(`function ${shownName(e.name)} is not allowed`);
    const isAggregate = aggregateFunctions.has(e.name);
    const isWindow = windowFunctions.has(e.name);
    const where = clauseNames[ctx.clause];
    if (e.over) {
      if (!isAggregate && !isWindow)
        throw deny.policy(`${shownName(e.name)} is not a window function`);
      if (ctx.inWindow || ctx.inAggregate) throw deny.policy('window functions cannot be nested');
      if (!windowClauses.has(ctx.clause) || !ctx.block) {
        throw deny.policy(`window functions are not allowed in ${where}`);
      }
      if (e.distinct || e.filter || e.orderBy.length > 0) {
        throw deny.unsupported(
          'unsupported SQL: DISTINCT, FILTER or ORDER BY in a window function',
        );
      }
      const inWindow: Ctx = { ...ctx, inWindow: true };
      for (const a of e.args) this.expr(a, inWindow);
      for (const p of e.over.partitionBy) this.expr(p, inWindow);
      for (const o of e.over.orderBy) this.expr(o.expr, inWindow);
      return;
    }
    if (isWindow) throw deny.policy(`${shownName(e.name)} needs an OVER clause`);
    if (e.nulls)
      throw deny.unsupported('unsupported SQL: IGNORE/RESPECT NULLS outside a window function');
    if (isAggregate) {
      if (ctx.inAggregate) throw deny.policy('aggregate functions cannot be nested');
      if (!aggregateClauses.has(ctx.clause) || !ctx.block) {
        throw deny.policy(`aggregate functions are not allowed in ${where}`);
      }
      const eligible =
        aggregateOnlyFunctions.has(e.name) &&
        e.args.length === 1 &&
        !e.star &&
        !e.distinct &&
        !e.filter &&
        e.orderBy.length === 0;
      const inside: Ctx = { ...ctx, inAggregate: true };
      for (const a of e.args) {
        this.expr(a, eligible && a.kind === 'column' ? { ...inside, directArgOf: e } : inside);
      }
      if (e.filter) this.expr(e.filter, inside);
      for (const o of e.orderBy) this.expr(o.expr, inside);
      return;
    }
    if (e.star || e.distinct || e.filter || e.orderBy.length > 0) {
      throw deny.unsupported(`unsupported SQL: ${shownName(e.name)} is not an aggregate function`);
    }
    for (const a of e.args) this.expr(a, ctx);
  }

  private column(ref: ColumnRef, ctx: Ctx): void {
    const found: Lookup = lookupColumn(ctx.level, ref, ctx.orderItem === true);
    const b = found.binding;
    const members = b.kind === 'column' ? [b.member] : b.kind === 'merged' ? b.members : [];
    const single = b.kind === 'column' ? b.member : undefined;
    // Allowed only here: the block's own single table, as the plain argument of an aggregate.
    const certainAggregateOnly =
      single?.column.base?.rule.kind === 'aggregateOnly' &&
      this.aggregateOnlyAllowed(single, b.level, ctx);
    const risky = found.shadowed.find((m) => m.column.base?.rule.kind === 'aggregateOnly');
    if (risky && !certainAggregateOnly) {
      throw deny.policy(
        `column ${shownName(ref.name)} is ambiguous with aggregate-only column ${shownName(risky.column.name ?? '')}`,
      );
    }
    for (const m of members) {
      if (m.column.base?.rule.kind === 'aggregateOnly' && !certainAggregateOnly) {
        throw deny.policy(this.aggregateOnlyMessage(m, b.level, ctx));
      }
      this.checkMember(m, ref, ctx.clause, ctx.projected);
    }
    const types = new Set(members.map((m) => m.column.base?.valueType));
    const [type] = types;
    if (types.size === 1 && type !== undefined) this.valueTypes.set(ref, type);
    if (certainAggregateOnly && single && ctx.block) {
      const min = single.relation.grant?.minGroupSize ?? 1;
      this.groupSize.set(ctx.block, Math.max(this.groupSize.get(ctx.block) ?? 0, min));
    }
  }

  /** Refuses a deny column; records the use of a stored column. */
  private checkMember(m: Member, ref: { name: string }, clause: Clause, projected: boolean): void {
    const base = m.column.base;
    if (!base) return;
    if (base.rule.kind === 'deny')
      throw deny.policy(`column ${shownName(base.column)} is not granted`);
    if (base.rule.kind === 'aggregateOnly' && clause === 'on') {
      throw deny.policy(
        `aggregate-only column ${shownName(ref.name)} cannot be used in ${clauseNames[clause]}`,
      );
    }
    this.use(base.dataset, base.column, projected && clause === 'select');
  }

  private aggregateOnlyAllowed(m: Member, bindingLevel: Ctx['level'], ctx: Ctx): boolean {
    return (
      ctx.directArgOf !== undefined &&
      !ctx.inWindow &&
      aggregateClauses.has(ctx.clause) &&
      ctx.block !== undefined &&
      bindingLevel === ctx.blockLevel &&
      ctx.block.from.length === 1 &&
      ctx.block.from[0] === m.relation.ref &&
      m.relation.ref !== undefined
    );
  }

  private aggregateOnlyMessage(m: Member, bindingLevel: Ctx['level'], ctx: Ctx): string {
    const name = shownName(m.column.name ?? '');
    const allowed = [...aggregateOnlyFunctions]
      .filter((f) => !f.includes('_') && f !== 'mean')
      .join(', ');
    if (bindingLevel !== ctx.blockLevel) {
      return `aggregate-only column ${name} cannot be used from a subquery or another FROM item`;
    }
    if (ctx.block && (ctx.block.from.length !== 1 || ctx.block.from[0] !== m.relation.ref)) {
      return `aggregate-only column ${name} can only be aggregated in a query over ${m.relation.grant?.dataset ?? 'its table'} alone, without joins`;
    }
    if (ctx.inWindow) return `aggregate-only column ${name} cannot be used in a window function`;
    return `aggregate-only column ${name} may only appear as the plain argument of ${allowed} (no DISTINCT or FILTER), not in ${clauseNames[ctx.clause]}`;
  }
}

/** Checks `q` against `scope`. Throws POLICY_DENIED, NOT_LICENSED or UNSUPPORTED_SQL. */
export function checkQuery(q: Query, scope: Scope): Analysis {
  const checker = new Checker(scope);
  checker.query(q, undefined, new CteScope(undefined), true);
  return checker.result();
}
