import type {
  Cte,
  Expr,
  ExprKind,
  FrameBound,
  FromItem,
  GroupingItem,
  OrderItem,
  Query,
  QueryBody,
  Select,
  SelectItem,
  WindowSpec,
} from './sql-tree.ts';

/**
 * Renders the planner's tree as DuckDB SQL. The output is unambiguous by construction: every
 * identifier is double-quoted, every string literal single-quoted with quotes doubled, every
 * operator application parenthesised, and numbers are the validated text from the tree.
 * Every node kind has its renderer in a table keyed by kind, so a kind without one is a
 * compile error. With `hideLiterals` every literal value renders as `?` (telemetry shape).
 */

export interface RenderOptions {
  readonly hideLiterals?: boolean;
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const bareFunctionName = /^[a-z_][a-z0-9_]*$/;

class Renderer {
  private readonly hide: boolean;

  constructor(options: RenderOptions) {
    this.hide = options.hideLiterals === true;
  }

  private lit(text: string): string {
    return this.hide ? '?' : text;
  }

  private readonly exprs: { readonly [K in ExprKind]: (e: Extract<Expr, { kind: K }>) => string } =
    {
      column: (e) =>
        e.table === undefined ? quoteIdent(e.name) : `${quoteIdent(e.table)}.${quoteIdent(e.name)}`,
      number: (e) => this.lit(e.text),
      string: (e) => this.lit(quoteString(e.value)),
      bool: (e) => this.lit(e.value ? 'TRUE' : 'FALSE'),
      null: () => this.lit('NULL'),
      typed: (e) => this.lit(`${e.type} ${quoteString(e.value)}`),
      interval: (e) => {
        if (this.hide) return e.unit ? `INTERVAL ? ${e.unit}` : 'INTERVAL ?';
        const v = e.value.kind === 'string' ? quoteString(e.value.value) : e.value.text;
        return e.unit ? `INTERVAL ${v} ${e.unit}` : `INTERVAL ${v}`;
      },
      unary: (e) => `(${e.op} ${this.expr(e.expr)})`,
      binary: (e) => `(${this.expr(e.left)} ${e.op} ${this.expr(e.right)})`,
      between: (e) =>
        `(${this.expr(e.expr)} ${e.not ? 'NOT BETWEEN' : 'BETWEEN'} ${this.expr(e.low)} AND ${this.expr(e.high)})`,
      inList: (e) =>
        `(${this.expr(e.expr)} ${e.not ? 'NOT IN' : 'IN'} (${e.list.map((x) => this.expr(x)).join(', ')}))`,
      inQuery: (e) => `(${this.expr(e.expr)} ${e.not ? 'NOT IN' : 'IN'} (${this.query(e.query)}))`,
      exists: (e) => `(${e.not ? 'NOT EXISTS' : 'EXISTS'} (${this.query(e.query)}))`,
      scalarQuery: (e) => `(${this.query(e.query)})`,
      is: (e) => `(${this.expr(e.expr)} IS ${e.not ? 'NOT ' : ''}${e.what})`,
      case: (e) => {
        const parts = ['CASE'];
        if (e.operand) parts.push(this.expr(e.operand));
        for (const w of e.whens)
          parts.push(`WHEN ${this.expr(w.when)} THEN ${this.expr(w.result)}`);
        if (e.else) parts.push(`ELSE ${this.expr(e.else)}`);
        parts.push('END');
        return parts.join(' ');
      },
      cast: (e) => `CAST(${this.expr(e.expr)} AS ${e.type})`,
      extract: (e) => `extract(${e.field} FROM ${this.expr(e.source)})`,
      position: (e) => `position(${this.expr(e.needle)} IN ${this.expr(e.haystack)})`,
      call: (e) => {
        const name = bareFunctionName.test(e.name) ? e.name : quoteIdent(e.name);
        if (e.niladic) return name;
        let inner = e.star ? '*' : e.args.map((a) => this.expr(a)).join(', ');
        if (e.distinct) inner = `DISTINCT ${inner}`;
        if (e.orderBy.length > 0) inner += ` ORDER BY ${this.orderItems(e.orderBy)}`;
        if (e.nulls) inner += ` ${e.nulls}`;
        let out = `${name}(${inner})`;
        if (e.filter) out += ` FILTER (WHERE ${this.expr(e.filter)})`;
        if (e.over) out += ` OVER (${this.window(e.over)})`;
        return out;
      },
    };

  expr(e: Expr): string {
    return (this.exprs[e.kind] as (x: Expr) => string)(e);
  }

  private orderItems(items: readonly OrderItem[]): string {
    return items
      .map((o) => {
        let s = this.expr(o.expr);
        if (o.dir) s += ` ${o.dir}`;
        if (o.nulls) s += ` ${o.nulls}`;
        return s;
      })
      .join(', ');
  }

  private bound(b: FrameBound): string {
    const table: { readonly [K in FrameBound['kind']]: () => string } = {
      unboundedPreceding: () => 'UNBOUNDED PRECEDING',
      unboundedFollowing: () => 'UNBOUNDED FOLLOWING',
      currentRow: () => 'CURRENT ROW',
      preceding: () => `${this.lit(b.offset!)} PRECEDING`,
      following: () => `${this.lit(b.offset!)} FOLLOWING`,
    };
    return table[b.kind]();
  }

  private window(w: WindowSpec): string {
    const parts: string[] = [];
    if (w.partitionBy.length > 0)
      parts.push(`PARTITION BY ${w.partitionBy.map((p) => this.expr(p)).join(', ')}`);
    if (w.orderBy.length > 0) parts.push(`ORDER BY ${this.orderItems(w.orderBy)}`);
    if (w.frame) {
      const f = w.frame;
      parts.push(
        f.end
          ? `${f.unit} BETWEEN ${this.bound(f.start)} AND ${this.bound(f.end)}`
          : `${f.unit} ${this.bound(f.start)}`,
      );
    }
    return parts.join(' ');
  }

  query(q: Query): string {
    let out = '';
    if (q.with.length > 0) out += `WITH ${q.with.map((c) => this.cte(c)).join(', ')} `;
    out += this.body(q.body, true);
    if (q.orderBy.length > 0) out += ` ORDER BY ${this.orderItems(q.orderBy)}`;
    if (q.limit !== undefined) out += ` LIMIT ${this.lit(q.limit)}`;
    if (q.offset !== undefined) out += ` OFFSET ${this.lit(q.offset)}`;
    return out;
  }

  cte(c: Cte): string {
    const cols = c.columns ? `(${c.columns.map(quoteIdent).join(', ')})` : '';
    const mat = c.notMaterialized ? ' NOT MATERIALIZED' : '';
    return `${quoteIdent(c.name)}${cols} AS${mat} (${this.query(c.query)})`;
  }

  private readonly bodies: {
    readonly [K in QueryBody['kind']]: (b: Extract<QueryBody, { kind: K }>) => string;
  } = {
    select: (b) => this.select(b),
    query: (b) => `(${this.query(b)})`,
    setop: (b) =>
      `${this.body(b.left, false)} ${b.op}${b.all ? ' ALL' : ''} ${this.body(b.right, false)}`,
  };

  /** Set-operation operands other than plain SELECTs are parenthesised. */
  private body(b: QueryBody, top: boolean): string {
    const text = (this.bodies[b.kind] as (x: QueryBody) => string)(b);
    return !top && b.kind === 'setop' ? `(${text})` : text;
  }

  private selectItem(i: SelectItem): string {
    if (i.kind === 'star') return i.table === undefined ? '*' : `${quoteIdent(i.table)}.*`;
    const e = this.expr(i.expr);
    return i.alias === undefined ? e : `${e} AS ${quoteIdent(i.alias)}`;
  }

  private readonly fromItems: {
    readonly [K in FromItem['kind']]: (f: Extract<FromItem, { kind: K }>) => string;
  } = {
    table: (f) => {
      const name = [f.catalog, f.schema, f.name]
        .filter((p): p is string => p !== undefined)
        .map(quoteIdent)
        .join('.');
      return f.alias === undefined ? name : `${name} AS ${quoteIdent(f.alias)}`;
    },
    derived: (f) => {
      let out = `${f.lateral ? 'LATERAL ' : ''}(${this.query(f.query)})`;
      if (f.alias !== undefined) out += ` AS ${quoteIdent(f.alias)}`;
      if (f.columns) out += `(${f.columns.map(quoteIdent).join(', ')})`;
      return out;
    },
    join: (f) => {
      const right = f.right.kind === 'join' ? `(${this.from(f.right)})` : this.from(f.right);
      const head = `${this.from(f.left)} ${f.type} JOIN ${right}`;
      if (f.on) return `${head} ON ${this.expr(f.on)}`;
      if (f.using) return `${head} USING (${f.using.map(quoteIdent).join(', ')})`;
      return head;
    },
  };

  private from(f: FromItem): string {
    return (this.fromItems[f.kind] as (x: FromItem) => string)(f);
  }

  private groupingItem(g: GroupingItem): string {
    if (g.kind === 'expr') return this.expr(g.expr);
    const sets = g.sets.map((s) => `(${s.map((e) => this.expr(e)).join(', ')})`).join(', ');
    const keyword = { rollup: 'ROLLUP', cube: 'CUBE', sets: 'GROUPING SETS' }[g.kind];
    return `${keyword} (${sets})`;
  }

  select(s: Select): string {
    let out = 'SELECT ';
    if (s.distinct) {
      out +=
        s.distinct.on.length > 0
          ? `DISTINCT ON (${s.distinct.on.map((e) => this.expr(e)).join(', ')}) `
          : 'DISTINCT ';
    }
    out += s.items.map((i) => this.selectItem(i)).join(', ');
    if (s.from.length > 0) out += ` FROM ${s.from.map((f) => this.from(f)).join(', ')}`;
    if (s.where) out += ` WHERE ${this.expr(s.where)}`;
    if (s.groupBy) out += ` GROUP BY ${s.groupBy.map((g) => this.groupingItem(g)).join(', ')}`;
    if (s.having) out += ` HAVING ${this.expr(s.having)}`;
    return out;
  }
}

export function renderQuery(q: Query, options: RenderOptions = {}): string {
  return new Renderer(options).query(q);
}

export function renderSelect(s: Select, options: RenderOptions = {}): string {
  return new Renderer(options).select(s);
}

export function renderExpr(e: Expr, options: RenderOptions = {}): string {
  return new Renderer(options).expr(e);
}
