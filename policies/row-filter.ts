import { deny } from '../gateway/errors.ts';
import { scalarFunctions } from './function-allowlist.ts';
import { foldName, shownName } from './sql-lex.ts';
import { parseExpression } from './sql-parse.ts';
import type { Expr, ExprKind } from './sql-tree.ts';

/**
 * A row filter is parsed and checked like user SQL, more strictly: one boolean expression
 * over the stored columns of its own table (unqualified), allow-listed scalar functions only,
 * no aggregates, windows or subqueries. Throws POLICY_DENIED, PARSE_ERROR or UNSUPPORTED_SQL.
 */

const fail = (why: string): never => {
  throw deny.policy(`row filter: ${why}`);
};

function walker(columns: ReadonlySet<string> | undefined): (e: Expr) => void {
  const visit = (e: Expr): void => (table[e.kind] as (x: Expr) => void)(e);
  const table: { readonly [K in ExprKind]: (e: Extract<Expr, { kind: K }>) => void } = {
    column: (e) => {
      if (e.table !== undefined) fail('columns must be unqualified');
      if (columns && !columns.has(foldName(e.name))) fail(`unknown column ${shownName(e.name)}`);
    },
    number: () => {},
    string: () => {},
    bool: () => {},
    null: () => {},
    typed: () => {},
    interval: () => {},
    unary: (e) => visit(e.expr),
    binary: (e) => {
      visit(e.left);
      visit(e.right);
    },
    between: (e) => {
      visit(e.expr);
      visit(e.low);
      visit(e.high);
    },
    inList: (e) => {
      visit(e.expr);
      e.list.forEach(visit);
    },
    inQuery: () => fail('subqueries are not allowed'),
    exists: () => fail('subqueries are not allowed'),
    scalarQuery: () => fail('subqueries are not allowed'),
    is: (e) => visit(e.expr),
    case: (e) => {
      if (e.operand) visit(e.operand);
      for (const w of e.whens) {
        visit(w.when);
        visit(w.result);
      }
      if (e.else) visit(e.else);
    },
    cast: (e) => visit(e.expr),
    extract: (e) => visit(e.source),
    position: (e) => {
      visit(e.needle);
      visit(e.haystack);
    },
    call: (e) => {
      if (!scalarFunctions.has(e.name)) fail(`function ${shownName(e.name)} is not allowed`);
      if (e.over || e.filter || e.distinct || e.star || e.orderBy.length > 0 || e.nulls) {
        fail(`${shownName(e.name)} must be a plain scalar call`);
      }
      e.args.forEach(visit);
    },
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
