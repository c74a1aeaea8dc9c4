/**
 * The planner's own SQL tree: the subset of SELECT that Sluice understands, as plain frozen data.
 * node-sql-parser's output is converted into this tree (sql-parse.ts) and nothing else is ever
 * rendered (sql-render.ts), so a construct missing here cannot reach the engine. Nodes are
 * compared by identity: the resolver and checker key their findings on node objects, so a
 * tree never shares one node object between two positions.
 */

export type BinaryOp =
  | 'AND'
  | 'OR'
  | '='
  | '<>'
  | '!='
  | '<'
  | '<='
  | '>'
  | '>='
  | '+'
  | '-'
  | '*'
  | '/'
  | '%'
  | '||'
  | 'LIKE'
  | 'NOT LIKE'
  | 'ILIKE'
  | 'NOT ILIKE'
  | 'SIMILAR TO'
  | 'NOT SIMILAR TO'
  | '~'
  | '!~';

export type UnaryOp = 'NOT' | '-' | '+';

export interface ColumnRef {
  readonly kind: 'column';
  /** Relation qualifier as written (alias or table name); compared case-insensitively. */
  readonly table?: string;
  readonly name: string;
}

export interface NumberLit {
  readonly kind: 'number';
  /** Validated numeric text: digits, optional fraction and exponent, optional leading '-'. */
  readonly text: string;
}

export interface StringLit {
  readonly kind: 'string';
  readonly value: string;
}

export interface BoolLit {
  readonly kind: 'bool';
  readonly value: boolean;
}

export interface NullLit {
  readonly kind: 'null';
}

export interface TypedLit {
  readonly kind: 'typed';
  readonly type: 'DATE' | 'TIME' | 'TIMESTAMP';
  readonly value: string;
}

export type IntervalUnit =
  | 'YEAR'
  | 'MONTH'
  | 'DAY'
  | 'HOUR'
  | 'MINUTE'
  | 'SECOND'
  | 'WEEK'
  | 'QUARTER';

export interface IntervalLit {
  readonly kind: 'interval';
  readonly value: StringLit | NumberLit;
  readonly unit?: IntervalUnit;
}

export interface Unary {
  readonly kind: 'unary';
  readonly op: UnaryOp;
  readonly expr: Expr;
}

export interface Binary {
  readonly kind: 'binary';
  readonly op: BinaryOp;
  readonly left: Expr;
  readonly right: Expr;
}

export interface Between {
  readonly kind: 'between';
  readonly not: boolean;
  readonly expr: Expr;
  readonly low: Expr;
  readonly high: Expr;
}

export interface InList {
  readonly kind: 'inList';
  readonly not: boolean;
  readonly expr: Expr;
  readonly list: readonly Expr[];
}

export interface InQuery {
  readonly kind: 'inQuery';
  readonly not: boolean;
  readonly expr: Expr;
  readonly query: Query;
}

export interface Exists {
  readonly kind: 'exists';
  readonly not: boolean;
  readonly query: Query;
}

export interface ScalarQuery {
  readonly kind: 'scalarQuery';
  readonly query: Query;
}

export interface IsTest {
  readonly kind: 'is';
  readonly not: boolean;
  readonly expr: Expr;
  readonly what: 'NULL' | 'TRUE' | 'FALSE';
}

export interface CaseExpr {
  readonly kind: 'case';
  readonly operand?: Expr;
  readonly whens: readonly { readonly when: Expr; readonly result: Expr }[];
  readonly else?: Expr;
}

/** A DuckDB type from a fixed list (see sql-parse.ts), already in canonical spelling. */
export interface Cast {
  readonly kind: 'cast';
  readonly expr: Expr;
  readonly type: string;
}

export type ExtractField =
  | 'YEAR'
  | 'MONTH'
  | 'DAY'
  | 'HOUR'
  | 'MINUTE'
  | 'SECOND'
  | 'QUARTER'
  | 'WEEK'
  | 'DOW'
  | 'DOY'
  | 'ISODOW'
  | 'ISOYEAR'
  | 'EPOCH'
  | 'DECADE'
  | 'CENTURY'
  | 'MILLENNIUM'
  | 'MILLISECOND'
  | 'MICROSECOND';

export interface Extract {
  readonly kind: 'extract';
  readonly field: ExtractField;
  readonly source: Expr;
}

/** `position(needle IN haystack)`. */
export interface Position {
  readonly kind: 'position';
  readonly needle: Expr;
  readonly haystack: Expr;
}

export interface FrameBound {
  readonly kind:
    | 'unboundedPreceding'
    | 'unboundedFollowing'
    | 'currentRow'
    | 'preceding'
    | 'following';
  /** Row/range offset for `preceding`/`following`: a non-negative integer as text. */
  readonly offset?: string;
}

export interface WindowFrame {
  readonly unit: 'ROWS' | 'RANGE';
  readonly start: FrameBound;
  readonly end?: FrameBound;
}

export interface WindowSpec {
  readonly partitionBy: readonly Expr[];
  readonly orderBy: readonly OrderItem[];
  readonly frame?: WindowFrame;
}

/**
 * A function call. `name` is lowercase and unqualified. Whether it is a scalar, aggregate or
 * window function is decided by the checker from the allow-list and `over`.
 */
export interface Call {
  readonly kind: 'call';
  readonly name: string;
  readonly args: readonly Expr[];
  /** `count(*)`. */
  readonly star: boolean;
  readonly distinct: boolean;
  /** Ordered-set/ordered aggregate: `string_agg(x, ',' ORDER BY y)`. */
  readonly orderBy: readonly OrderItem[];
  readonly filter?: Expr;
  readonly over?: WindowSpec;
  readonly nulls?: 'IGNORE NULLS' | 'RESPECT NULLS';
  /** Written without parentheses (`current_date`). */
  readonly niladic?: boolean;
}

export type Expr =
  | ColumnRef
  | NumberLit
  | StringLit
  | BoolLit
  | NullLit
  | TypedLit
  | IntervalLit
  | Unary
  | Binary
  | Between
  | InList
  | InQuery
  | Exists
  | ScalarQuery
  | IsTest
  | CaseExpr
  | Cast
  | Extract
  | Position
  | Call;

export type ExprKind = Expr['kind'];

export interface OrderItem {
  readonly expr: Expr;
  readonly dir?: 'ASC' | 'DESC';
  readonly nulls?: 'NULLS FIRST' | 'NULLS LAST';
}

export interface ExprItem {
  readonly kind: 'item';
  readonly expr: Expr;
  readonly alias?: string;
}

export interface StarItem {
  readonly kind: 'star';
  readonly table?: string;
}

export type SelectItem = ExprItem | StarItem;

export interface TableRef {
  readonly kind: 'table';
  /** Only the planner's own shaped selects carry a catalog and schema. */
  readonly catalog?: string;
  readonly schema?: string;
  readonly name: string;
  readonly alias?: string;
}

export interface DerivedRef {
  readonly kind: 'derived';
  readonly lateral: boolean;
  readonly query: Query;
  readonly alias?: string;
  readonly columns?: readonly string[];
}

export type JoinType = 'INNER' | 'LEFT' | 'RIGHT' | 'FULL' | 'CROSS';

export interface JoinRef {
  readonly kind: 'join';
  readonly type: JoinType;
  readonly left: FromItem;
  readonly right: FromItem;
  readonly on?: Expr;
  readonly using?: readonly string[];
}

export type FromItem = TableRef | DerivedRef | JoinRef;

/** One element of GROUP BY. `sets` lists grouping sets; `()` is an empty array. */
export type GroupingItem =
  | { readonly kind: 'expr'; readonly expr: Expr }
  | { readonly kind: 'rollup' | 'cube' | 'sets'; readonly sets: readonly (readonly Expr[])[] };

export interface Select {
  readonly kind: 'select';
  /** `DISTINCT` (on is empty) or `DISTINCT ON (...)`. */
  readonly distinct?: { readonly on: readonly Expr[] };
  readonly items: readonly SelectItem[];
  /** Comma-separated FROM entries; each may be a join tree. */
  readonly from: readonly FromItem[];
  readonly where?: Expr;
  readonly groupBy?: readonly GroupingItem[];
  readonly having?: Expr;
}

export interface SetOp {
  readonly kind: 'setop';
  readonly op: 'UNION' | 'INTERSECT' | 'EXCEPT';
  readonly all: boolean;
  readonly left: QueryBody;
  readonly right: QueryBody;
}

/** A parenthesised query used as a set-operation operand (it may carry ORDER BY/LIMIT). */
export type QueryBody = Select | SetOp | Query;

export interface Cte {
  readonly name: string;
  readonly columns?: readonly string[];
  readonly query: Query;
  /** Only the planner's shaped relations are NOT MATERIALIZED. */
  readonly notMaterialized?: boolean;
}

export interface Query {
  readonly kind: 'query';
  readonly with: readonly Cte[];
  readonly body: QueryBody;
  readonly orderBy: readonly OrderItem[];
  /** Non-negative integer text. */
  readonly limit?: string;
  readonly offset?: string;
}

/**
 * The expressions directly inside `e`, in source order. A subquery's query is not among them
 * (it is a Query, not an Expr); callers that care about subqueries look at the kind first.
 */
export function exprChildren(e: Expr): readonly Expr[] {
  switch (e.kind) {
    case 'column':
    case 'number':
    case 'string':
    case 'bool':
    case 'null':
    case 'typed':
    case 'interval':
    case 'exists':
    case 'scalarQuery':
      return [];
    case 'unary':
    case 'is':
    case 'cast':
    case 'inQuery':
      return [e.expr];
    case 'binary':
      return [e.left, e.right];
    case 'between':
      return [e.expr, e.low, e.high];
    case 'inList':
      return [e.expr, ...e.list];
    case 'case':
      return [
        ...(e.operand ? [e.operand] : []),
        ...e.whens.flatMap((w) => [w.when, w.result]),
        ...(e.else ? [e.else] : []),
      ];
    case 'extract':
      return [e.source];
    case 'position':
      return [e.needle, e.haystack];
    case 'call':
      return [
        ...e.args,
        ...(e.filter ? [e.filter] : []),
        ...e.orderBy.map((o) => o.expr),
        ...(e.over ? [...e.over.partitionBy, ...e.over.orderBy.map((o) => o.expr)] : []),
      ];
    default: {
      const unknown: never = e;
      return unknown;
    }
  }
}

/** Deep-freezes a freshly built tree so no later stage can mutate it. */
export function freezeTree<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as object)) freezeTree(v);
  }
  return value;
}
