import { deny } from '../gateway/errors.ts';
import { scalarFunctions } from './function-allowlist.ts';
import { foldName, shownName } from './sql-lex.ts';
import { parseExpression } from './sql-parse.ts';
import { type Expr, exprChildren, type StringLit } from './sql-tree.ts';

/**
 * A row filter is parsed and checked like user SQL, more strictly: one boolean expression
 * over the stored columns of its own table (unqualified), allow-listed scalar functions only,
 * no aggregates, windows or subqueries. Throws POLICY_DENIED, PARSE_ERROR or UNSUPPORTED_SQL.
 */

const fail = (why: string): never => {
  throw deny.policy(`row filter: ${why}`);
};

function walker(columns: ReadonlySet<string> | undefined): (e: Expr) => void {
  const visit = (e: Expr): void => {
    switch (e.kind) {
      case 'column':
        if (e.table !== undefined) fail('columns must be unqualified');
        if (columns && !columns.has(foldName(e.name))) fail(`unknown column ${shownName(e.name)}`);
        break;
      case 'inQuery':
      case 'exists':
      case 'scalarQuery':
        fail('subqueries are not allowed');
        break;
      case 'call':
        if (!scalarFunctions.has(e.name)) fail(`function ${shownName(e.name)} is not allowed`);
        if (e.over || e.filter || e.distinct || e.star || e.orderBy.length > 0 || e.nulls) {
          fail(`${shownName(e.name)} must be a plain scalar call`);
        }
        break;
    }
    exprChildren(e).forEach(visit);
  };
  return visit;
}

/**
 * Parses and validates `text` as a row filter over `columns` (stored column names; undefined
 * skips the column check, for a document checked before the catalog is known).
 */
export function parseRowFilter(text: string, columns: readonly string[] | undefined): Expr {
  const expr = parseExpression(text);
  walker(columns && new Set(columns.map(foldName)))(expr);
  return expr;
}

/** The members of a DuckDB `ENUM('a', 'b', ...)` type text, or undefined for any other type. */
export function enumMembers(type: string): ReadonlySet<string> | undefined {
  const m = /^ENUM\((.*)\)$/is.exec(type.trim());
  if (!m) return undefined;
  const members = new Set<string>();
  const item = /\s*'((?:[^']|'')*)'\s*(,|$)/y;
  let at = 0;
  const body = m[1]!;
  while (at < body.length) {
    item.lastIndex = at;
    const found = item.exec(body);
    if (!found) return undefined;
    members.add(found[1]!.replaceAll("''", "'"));
    at = item.lastIndex;
  }
  return members;
}

/**
 * Spells string literals compared with an ENUM column as values of that ENUM, in `=`, `<>`,
 * `!=`, `IN` and `NOT IN` (order-free comparisons: an ENUM orders by declaration). DuckDB
 * otherwise casts the column to VARCHAR on every row, which also hides the comparison from its
 * per-row-group min/max; as ENUM values the row filter can skip whole row groups. Only literals
 * that are members are cast (a cast of a non-member fails), and only when all of a
 * comparison's literals are; the result is equal to the filter as written.
 */
export function typedRowFilter(filter: Expr, types: ReadonlyMap<string, string>): Expr {
  const enumOf = (e: Expr) =>
    e.kind === 'column' && e.table === undefined
      ? enumMembers(types.get(foldName(e.name)) ?? '')
      : undefined;
  const typeOf = (e: Expr) => types.get(foldName((e as { name: string }).name))!;
  const asEnum = (lit: StringLit, type: string): Expr => ({ kind: 'cast', expr: lit, type });
  const visit = (e: Expr): Expr => {
    switch (e.kind) {
      case 'unary':
        return { ...e, expr: visit(e.expr) };
      case 'binary': {
        if (e.op === 'AND' || e.op === 'OR') {
          return { ...e, left: visit(e.left), right: visit(e.right) };
        }
        if (e.op !== '=' && e.op !== '<>' && e.op !== '!=') return e;
        const [col, lit] = e.right.kind === 'string' ? [e.left, e.right] : [e.right, e.left];
        const members = enumOf(col);
        if (!members || lit.kind !== 'string' || !members.has(lit.value)) return e;
        const cast = asEnum(lit, typeOf(col));
        return col === e.left ? { ...e, right: cast } : { ...e, left: cast };
      }
      case 'inList': {
        const members = enumOf(e.expr);
        const fits = e.list.every((v) => v.kind === 'string' && members?.has(v.value));
        if (!members || !fits) return e;
        const type = typeOf(e.expr);
        return { ...e, list: e.list.map((v) => asEnum(v as StringLit, type)) };
      }
      default:
        return e;
    }
  };
  return visit(filter);
}
