import {
  type ColumnRef,
  type Expr,
  exprChildren,
  type FromItem,
  type Query,
  type QueryBody,
  type SelectItem,
} from './sql-tree.ts';

/**
 * Whether a query holds a predicate that DuckDB's optimizer might evaluate below a relation's
 * row filter and that could fail there: a WHERE, HAVING, JOIN condition or aggregate FILTER
 * that is not plainly infallible (see `infallible`), any INTERSECT/EXCEPT or USING, or a
 * subquery used as an expression (those become joins with conditions). Such expressions can be
 * pushed under the filter and meet hidden rows; an error raised by a hidden row's value would
 * be an oracle, so the shaped relations of such a query read NULL in every column of a hidden
 * row. A query without them only projects, groups, orders, aggregates and filters by
 * comparisons that cannot fail, so it reads plain columns: a hidden row reaching such a
 * comparison can only be dropped. Deny by default: anything not listed here counts.
 *
 * `valueTypes` holds the type of the value each column reference reads (check.ts), when the
 * reference reads one stored column; comparisons need it to know that no cast per row happens.
 */
export function hasPushablePredicates(
  query: Query,
  valueTypes: ReadonlyMap<ColumnRef, string> = new Map(),
): boolean {
  return new PredicateScan(valueTypes).query(query);
}

type Family = 'number' | 'text' | 'date' | 'timestamp' | 'bool';

/**
 * Families of types whose values compare with each other, and with a literal of the family,
 * without a cast that could fail on some value. DATE and TIMESTAMP stay apart: a DATE far in
 * the future does not fit a TIMESTAMP.
 */
function familyOf(type: string | undefined): Family | undefined {
  if (type === undefined) return undefined;
  const t = type.trim().toUpperCase();
  if (/^(TINYINT|SMALLINT|INTEGER|BIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\s*\d+\))$/.test(t)) {
    return 'number';
  }
  if (t === 'VARCHAR' || t.startsWith('ENUM(')) return 'text';
  if (t === 'DATE') return 'date';
  if (t === 'TIMESTAMP') return 'timestamp';
  if (t === 'BOOLEAN') return 'bool';
  return undefined;
}

const comparisons: ReadonlySet<string> = new Set(['=', '<>', '!=', '<', '<=', '>', '>=']);
const likes: ReadonlySet<string> = new Set(['LIKE', 'NOT LIKE', 'ILIKE', 'NOT ILIKE']);

class PredicateScan {
  private readonly types: ReadonlyMap<ColumnRef, string>;

  constructor(types: ReadonlyMap<ColumnRef, string>) {
    this.types = types;
  }

  query(q: Query): boolean {
    return (
      q.with.some((cte) => this.query(cte.query)) ||
      this.body(q.body) ||
      q.orderBy.some((o) => this.expr(o.expr))
    );
  }

  private body(body: QueryBody): boolean {
    switch (body.kind) {
      case 'query':
        return this.query(body);
      case 'setop':
        return body.op !== 'UNION' || this.body(body.left) || this.body(body.right);
      case 'select':
        return (
          this.predicate(body.where) ||
          this.predicate(body.having) ||
          body.from.some((f) => this.from(f)) ||
          body.items.some((i) => this.item(i)) ||
          (body.distinct?.on ?? []).some((e) => this.expr(e)) ||
          (body.groupBy ?? []).some((g) =>
            g.kind === 'expr'
              ? this.expr(g.expr)
              : g.sets.some((set) => set.some((e) => this.expr(e))),
          )
        );
      default:
        return true;
    }
  }

  private from(item: FromItem): boolean {
    switch (item.kind) {
      case 'table':
        return false;
      case 'derived':
        return this.query(item.query);
      case 'join':
        return (
          this.predicate(item.on) ||
          item.using !== undefined ||
          this.from(item.left) ||
          this.from(item.right)
        );
      default:
        return true;
    }
  }

  private item(item: SelectItem): boolean {
    return item.kind === 'item' ? this.expr(item.expr) : false;
  }

  /** A predicate counts unless it is infallible and holds no subquery or FILTER. */
  private predicate(e: Expr | undefined): boolean {
    return e !== undefined && (this.expr(e) || !this.infallible(e));
  }

  /**
   * Does the expression (or anything inside it) hold a predicate that counts: a subquery, or
   * an aggregate FILTER that is not infallible?
   */
  private expr(e: Expr): boolean {
    if (e.kind === 'inQuery' || e.kind === 'exists' || e.kind === 'scalarQuery') return true;
    if (e.kind === 'call' && this.predicate(e.filter)) return true;
    return exprChildren(e).some((c) => this.expr(c));
  }

  /**
   * True only for predicates that cannot raise an error on any row: comparisons (also IN
   * lists, BETWEEN, LIKE with a literal pattern) between a stored column and a literal of its
   * family, or two stored columns of one type (or both numeric), IS [NOT] NULL/TRUE/FALSE of a
   * stored column, and AND, OR and NOT over those. Arithmetic, functions and casts can fail
   * (overflow, conversion); a column of a derived table may hold any expression. Neither is
   * infallible.
   */
  private infallible(e: Expr): boolean {
    switch (e.kind) {
      case 'bool':
      case 'null':
        return true;
      case 'column':
        return this.family(e) === 'bool';
      case 'unary':
        return e.op === 'NOT' && this.infallible(e.expr);
      case 'is':
        return e.expr.kind === 'column' && this.types.has(e.expr);
      case 'binary':
        if (e.op === 'AND' || e.op === 'OR') {
          return this.infallible(e.left) && this.infallible(e.right);
        }
        if (comparisons.has(e.op)) return this.comparable(e.left, e.right);
        if (likes.has(e.op)) {
          return (
            e.left.kind === 'column' && this.family(e.left) === 'text' && e.right.kind === 'string'
          );
        }
        return false;
      case 'inList':
        return e.list.every((v) => v.kind !== 'column' && this.comparable(e.expr, v));
      case 'between':
        return (
          e.low.kind !== 'column' &&
          e.high.kind !== 'column' &&
          this.comparable(e.expr, e.low) &&
          this.comparable(e.expr, e.high)
        );
      default:
        return false;
    }
  }

  private family(ref: ColumnRef): Family | undefined {
    return familyOf(this.types.get(ref));
  }

  /**
   * A stored column against a literal DuckDB casts once (a constant: any error does not
   * depend on data) to the column's type, or against another stored column it compares with
   * as it is.
   */
  private comparable(a: Expr, b: Expr): boolean {
    if (a.kind !== 'column') return b.kind === 'column' && this.comparable(b, a);
    const family = this.family(a);
    if (family === undefined) return false;
    switch (b.kind) {
      case 'string':
        return true;
      case 'number':
        return family === 'number';
      case 'bool':
        return family === 'bool';
      case 'typed':
        return (
          (b.type === 'DATE' && family === 'date') ||
          (b.type === 'TIMESTAMP' && family === 'timestamp')
        );
      case 'column': {
        const other = this.family(b);
        const same =
          this.types.get(a)?.trim().toUpperCase() === this.types.get(b)?.trim().toUpperCase();
        return other !== undefined && (same || (family === 'number' && other === 'number'));
      }
      default:
        return false;
    }
  }
}
