/**
 * The second check (DESIGN.md invariant 3): the gateway's rendered SQL is parsed again by
 * DuckDB's own parser (`json_serialize_sql`) and the resulting tree is verified here, denying by
 * default. Everything that is not explicitly known below is a denial: an unknown node type,
 * table-ref type, expression class, operator, modifier, cast target or even an unknown key on a
 * known node (a newer DuckDB that adds a field gets refused until this file learns the field).
 *
 * What is verified:
 * - exactly one statement, no error, no parameters;
 * - the top node's CTE map holds every policy-shaped `sluice$` CTE, each deep-equal (ignoring
 *   `query_location`) to the separately serialized `shaped[i].sql`, with no column aliases;
 * - a trusted body reads only `"<dataCatalog>"."main"."<dataset>"` of its own dataset;
 * - no other CTE, anywhere, has a `sluice$` name (case-insensitive), nor does any table alias;
 * - outside the trusted bodies every BASE_TABLE is unqualified and names a CTE in scope
 *   (a CTE is visible in later siblings' bodies and in its node; nested WITHs push scopes;
 *   names match with exact case, stricter than DuckDB's case-insensitive lookup);
 * - no table functions, PIVOT, SHOW, SAMPLE, time travel, recursive CTEs, lambdas, parameters;
 * - every function is in the shared allow-list (operators in `operatorFunctions` when the parser
 *   marks them `is_operator`), with schema '' or 'main' and catalog ''.
 * Inside the trusted bodies function names are not restricted: that text is the planner's own
 * rendering (masks, row filters) and was just shown to be identical to `plan.shaped`.
 */

import { SluiceError } from '../gateway/errors.ts';
import {
  aggregateFunctions,
  operatorFunctions,
  scalarFunctions,
  windowFunctions,
} from '../policies/function-allowlist.ts';
import type { QueryPlan } from '../policies/policy-types.ts';

/** Returns DuckDB's `json_serialize_sql` output for `sql`. */
export type Serialize = (sql: string) => Promise<string>;

export interface SecondCheckOptions {
  /** Catalog under which the engine attaches the stored datasets (default `sluice_data`). */
  readonly dataCatalog?: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

const SHAPED_PREFIX = 'sluice$';
const DATASET_ID = /^[a-z][a-z0-9_]*$/;

function denial(reason: string): SluiceError {
  return new SluiceError('POLICY_DENIED', `second check: ${reason}`);
}

/**
 * Verifies a rendered plan with DuckDB's parser output.
 * @throws SluiceError POLICY_DENIED on any failed or unknown construct.
 */
export async function secondCheck(
  plan: Pick<QueryPlan, 'sql' | 'shaped'>,
  serialize: Serialize,
  options: SecondCheckOptions = {},
): Promise<void> {
  try {
    await verify(plan, serialize, options.dataCatalog ?? 'sluice_data');
  } catch (err) {
    // Anything unexpected (a stack overflow on a pathological tree included) is a denial.
    if (err instanceof SluiceError && err.code === 'POLICY_DENIED') throw err;
    throw denial('the query could not be verified');
  }
}

async function verify(
  plan: Pick<QueryPlan, 'sql' | 'shaped'>,
  serialize: Serialize,
  dataCatalog: string,
): Promise<void> {
  const shapedTrees = new Map<string, { readonly dataset: string; readonly tree: Json }>();
  for (const s of plan.shaped) {
    if (!s.name.startsWith(SHAPED_PREFIX) || s.name !== s.name.toLowerCase()) {
      throw denial('a policy-shaped relation has a malformed name');
    }
    if (!DATASET_ID.test(s.dataset) || shapedTrees.has(s.name)) {
      throw denial('policy-shaped relations are malformed or repeated');
    }
    shapedTrees.set(s.name, { dataset: s.dataset, tree: await shapedTree(serialize, s.sql) });
  }
  const statement = readStatement(await serialize(plan.sql));
  const ctx: Ctx = { mode: USER, shaped: shapedTrees, seen: new Set(), dataCatalog, depth: 0 };
  checkStatement(statement, null, ctx, true);
  for (const name of shapedTrees.keys()) {
    if (!ctx.seen.has(name)) throw denial('a policy-shaped relation is missing from the query');
  }
}

/**
 * Parsed and location-free trees of shaped relations, by the parser's output text: a scope's
 * shaped relations come back in every check of its queries, and reading their long output
 * again is a large part of the check's own time. Keyed by the output, not the SQL, so the tree
 * is always the one DuckDB gave for this call. The trees are only compared, never modified.
 */
const SHAPED_TREE_CACHE_LIMIT = 64;
const shapedTreeCache = new Map<string, Json>();

async function shapedTree(serialize: Serialize, sql: string): Promise<Json> {
  const output = await serialize(sql);
  const known = shapedTreeCache.get(output);
  if (known !== undefined) return known;
  const tree = stripLocations(readStatement(output));
  if (shapedTreeCache.size >= SHAPED_TREE_CACHE_LIMIT) {
    shapedTreeCache.delete(shapedTreeCache.keys().next().value!);
  }
  shapedTreeCache.set(output, tree);
  return tree;
}

function readStatement(output: string): JsonObject {
  let parsed: Json;
  try {
    parsed = JSON.parse(output) as Json;
  } catch {
    throw denial('the parser output could not be read');
  }
  const top = asObject(parsed, 'parser output');
  expectKeys(top, ['error', 'statements'], 'parser output');
  if (top.error !== false) throw denial('the statement could not be parsed or is not a SELECT');
  const statements = asArray(top.statements, 'statements');
  if (statements.length !== 1) throw denial('exactly one statement is allowed');
  return asObject(statements[0], 'statement');
}

function stripLocations(node: Json): Json {
  if (Array.isArray(node)) return node.map(stripLocations);
  if (node !== null && typeof node === 'object') {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(node)) {
      if (k !== 'query_location') out[k] = stripLocations(v);
    }
    return out;
  }
  return node;
}

function deepEqual(a: Json, b: Json): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((x, i) => deepEqual(x, b[i]!));
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && deepEqual(a[k]!, b[k]!));
}

// ---------------------------------------------------------------------------------------------
// Walk context

interface UserMode {
  readonly kind: 'user';
}
interface TrustedMode {
  readonly kind: 'trusted';
  readonly dataset: string;
}
const USER: UserMode = { kind: 'user' };

interface Scope {
  readonly names: ReadonlySet<string>;
  readonly parent: Scope | null;
}

interface Ctx {
  readonly mode: UserMode | TrustedMode;
  readonly shaped: ReadonlyMap<string, { readonly dataset: string; readonly tree: Json }>;
  readonly seen: Set<string>;
  readonly dataCatalog: string;
  readonly depth: number;
}

/** Deeper trees than this are refused rather than risking the stack. */
const MAX_DEPTH = 500;

function inScope(scope: Scope | null, name: string): boolean {
  for (let s = scope; s !== null; s = s.parent) if (s.names.has(name)) return true;
  return false;
}

function deeper(ctx: Ctx): Ctx {
  if (ctx.depth >= MAX_DEPTH) throw denial('the query is nested too deeply');
  return { ...ctx, depth: ctx.depth + 1 };
}

// ---------------------------------------------------------------------------------------------
// Typed accessors: a wrong shape is a denial, never a crash or a pass-through.

function asObject(v: Json | undefined, what: string): JsonObject {
  if (v === null || v === undefined || typeof v !== 'object' || Array.isArray(v)) {
    throw denial(`unexpected shape of ${what}`);
  }
  return v;
}
function asArray(v: Json | undefined, what: string): Json[] {
  if (!Array.isArray(v)) throw denial(`unexpected shape of ${what}`);
  return v;
}
function asString(v: Json | undefined, what: string): string {
  if (typeof v !== 'string') throw denial(`unexpected shape of ${what}`);
  return v;
}
function asBoolean(v: Json | undefined, what: string): boolean {
  if (typeof v !== 'boolean') throw denial(`unexpected shape of ${what}`);
  return v;
}
function expectKeys(node: JsonObject, allowed: readonly string[], what: string): void {
  for (const k of Object.keys(node)) {
    if (!allowed.includes(k)) throw denial(`unknown field on ${what}`);
  }
}
function expectNull(v: Json | undefined, what: string): void {
  if (v !== null) throw denial(`${what} is not allowed`);
}
function expectEmptyArray(v: Json | undefined, what: string): void {
  if (asArray(v, what).length !== 0) throw denial(`${what} is not allowed`);
}
function expectOneOf(v: Json | undefined, allowed: readonly string[], what: string): string {
  const s = asString(v, what);
  if (!allowed.includes(s)) throw denial(`${what} ${s} is not allowed`);
  return s;
}
function hasOwn<T extends object>(table: T, key: string): key is Extract<keyof T, string> {
  return Object.hasOwn(table, key);
}

// ---------------------------------------------------------------------------------------------
// Statements, query nodes and CTEs

function checkStatement(stmt: JsonObject, scope: Scope | null, ctx: Ctx, isTop = false): void {
  expectKeys(stmt, ['node', 'named_param_map'], 'statement');
  expectEmptyArray(stmt.named_param_map, 'a named parameter');
  checkNode(asObject(stmt.node, 'query node'), scope, deeper(ctx), isTop);
}

type NodeType = 'SELECT_NODE' | 'SET_OPERATION_NODE';
type NodeHandler = (node: JsonObject, scope: Scope, ctx: Ctx) => void;

const nodeHandlers: Record<NodeType, NodeHandler> = {
  SELECT_NODE(node, scope, ctx) {
    expectKeys(
      node,
      [
        'type',
        'modifiers',
        'cte_map',
        'select_list',
        'from_table',
        'where_clause',
        'group_expressions',
        'group_sets',
        'aggregate_handling',
        'having',
        'sample',
        'qualify',
      ],
      'SELECT',
    );
    expectNull(node.sample, 'USING SAMPLE');
    expectOneOf(
      node.aggregate_handling,
      ['STANDARD_HANDLING', 'FORCE_AGGREGATES', 'NO_AGGREGATES_ALLOWED'],
      'aggregate handling',
    );
    checkTableRef(asObject(node.from_table, 'FROM'), scope, ctx);
    checkExpressions(node.select_list, scope, ctx, 'select list');
    checkOptionalExpression(node.where_clause, scope, ctx);
    checkExpressions(node.group_expressions, scope, ctx, 'GROUP BY');
    for (const set of asArray(node.group_sets, 'grouping sets')) {
      for (const i of asArray(set, 'grouping set')) {
        if (typeof i !== 'number') throw denial('unexpected shape of grouping set');
      }
    }
    checkOptionalExpression(node.having, scope, ctx);
    checkOptionalExpression(node.qualify, scope, ctx);
    checkModifiers(node.modifiers, scope, ctx);
  },
  SET_OPERATION_NODE(node, scope, ctx) {
    expectKeys(
      node,
      ['type', 'modifiers', 'cte_map', 'setop_type', 'setop_all', 'left', 'right'],
      'set operation',
    );
    expectOneOf(node.setop_type, ['UNION', 'EXCEPT', 'INTERSECT', 'UNION_BY_NAME'], 'set op');
    asBoolean(node.setop_all, 'set operation ALL');
    checkNode(asObject(node.left, 'set operation'), scope, deeper(ctx), false);
    checkNode(asObject(node.right, 'set operation'), scope, deeper(ctx), false);
    checkModifiers(node.modifiers, scope, ctx);
  },
};

function checkNode(node: JsonObject, outer: Scope | null, ctx: Ctx, isTop: boolean): void {
  const type = asString(node.type, 'query node type');
  if (!hasOwn(nodeHandlers, type)) throw denial(`query node ${type} is not allowed`);
  const scope = checkCteMap(node, outer, ctx, isTop);
  nodeHandlers[type](node, scope, ctx);
}

const MATERIALIZATIONS = [
  'CTE_MATERIALIZE_DEFAULT',
  'CTE_MATERIALIZE_ALWAYS',
  'CTE_MATERIALIZE_NEVER',
] as const;

/** Checks each CTE body in its own scope and returns the scope the node's body sees. */
function checkCteMap(node: JsonObject, outer: Scope | null, ctx: Ctx, isTop: boolean): Scope {
  const cteMap = asObject(node.cte_map, 'WITH');
  expectKeys(cteMap, ['map'], 'WITH');
  const names = new Set<string>();
  const scope: Scope = { names, parent: outer };
  for (const entry of asArray(cteMap.map, 'WITH')) {
    const e = asObject(entry, 'CTE');
    expectKeys(e, ['key', 'value'], 'CTE');
    const name = asString(e.key, 'CTE name');
    const value = asObject(e.value, 'CTE');
    expectKeys(value, ['aliases', 'query', 'materialized', 'key_targets'], 'CTE');
    expectEmptyArray(value.key_targets, 'USING KEY');
    expectOneOf(value.materialized, MATERIALIZATIONS, 'CTE materialization');
    for (const a of asArray(value.aliases, 'CTE column aliases')) asString(a, 'CTE column alias');
    if (names.has(name)) throw denial('a CTE name is repeated');
    const query = asObject(value.query, 'CTE body');
    if (name.toLowerCase().startsWith(SHAPED_PREFIX)) {
      checkTrustedCte(name, value, query, isTop, ctx);
    } else {
      // Visible here: earlier siblings and enclosing scopes, never the CTE itself.
      checkStatement(query, scope, ctx);
    }
    names.add(name);
  }
  return scope;
}

function checkTrustedCte(
  name: string,
  value: JsonObject,
  query: JsonObject,
  isTop: boolean,
  ctx: Ctx,
): void {
  const shaped = ctx.shaped.get(name);
  if (!isTop || ctx.mode.kind !== 'user' || shaped === undefined || ctx.seen.has(name)) {
    throw denial('a sluice$ name is reserved for policy-shaped relations');
  }
  expectEmptyArray(value.aliases, 'column aliases on a policy-shaped relation');
  if (!deepEqual(stripLocations(query), shaped.tree)) {
    throw denial('a policy-shaped relation differs from the plan');
  }
  ctx.seen.add(name);
  checkStatement(query, null, { ...ctx, mode: { kind: 'trusted', dataset: shaped.dataset } });
}

// ---------------------------------------------------------------------------------------------
// Modifiers

type ModifierType =
  | 'ORDER_MODIFIER'
  | 'LIMIT_MODIFIER'
  | 'LIMIT_PERCENT_MODIFIER'
  | 'DISTINCT_MODIFIER';
type Handler = (node: JsonObject, scope: Scope, ctx: Ctx) => void;

const modifierHandlers: Record<ModifierType, Handler> = {
  ORDER_MODIFIER(node, scope, ctx) {
    expectKeys(node, ['type', 'orders'], 'ORDER BY');
    checkOrders(node.orders, scope, ctx);
  },
  LIMIT_MODIFIER(node, scope, ctx) {
    expectKeys(node, ['type', 'limit', 'offset'], 'LIMIT');
    checkOptionalExpression(node.limit, scope, ctx);
    checkOptionalExpression(node.offset, scope, ctx);
  },
  LIMIT_PERCENT_MODIFIER(node, scope, ctx) {
    expectKeys(node, ['type', 'limit', 'offset'], 'LIMIT %');
    checkOptionalExpression(node.limit, scope, ctx);
    checkOptionalExpression(node.offset, scope, ctx);
  },
  DISTINCT_MODIFIER(node, scope, ctx) {
    expectKeys(node, ['type', 'distinct_on_targets'], 'DISTINCT');
    checkExpressions(node.distinct_on_targets, scope, ctx, 'DISTINCT ON');
  },
};

function checkModifiers(v: Json | undefined, scope: Scope, ctx: Ctx): void {
  for (const m of asArray(v, 'modifiers')) {
    const mod = asObject(m, 'modifier');
    const type = asString(mod.type, 'modifier type');
    if (!hasOwn(modifierHandlers, type)) throw denial(`modifier ${type} is not allowed`);
    modifierHandlers[type](mod, scope, ctx);
  }
}

function checkOrders(v: Json | undefined, scope: Scope, ctx: Ctx): void {
  for (const o of asArray(v, 'ORDER BY')) {
    const order = asObject(o, 'ORDER BY term');
    expectKeys(order, ['type', 'null_order', 'expression'], 'ORDER BY term');
    expectOneOf(order.type, ['ORDER_DEFAULT', 'ASCENDING', 'DESCENDING'], 'sort order');
    expectOneOf(
      order.null_order,
      ['ORDER_DEFAULT', 'NULLS FIRST', 'NULLS LAST', 'NULLS_FIRST', 'NULLS_LAST'],
      'null order',
    );
    checkExpression(order.expression, scope, ctx);
  }
}

// ---------------------------------------------------------------------------------------------
// Table references

type TableRefType = 'BASE_TABLE' | 'JOIN' | 'SUBQUERY' | 'EMPTY' | 'EXPRESSION_LIST';
const TABLE_REF_COMMON = ['type', 'alias', 'sample', 'query_location'] as const;

const tableRefHandlers: Record<TableRefType, Handler> = {
  BASE_TABLE(node, scope, ctx) {
    expectKeys(
      node,
      [
        ...TABLE_REF_COMMON,
        'schema_name',
        'table_name',
        'column_name_alias',
        'catalog_name',
        'at_clause',
      ],
      'table',
    );
    expectNull(node.at_clause, 'time travel (AT)');
    const table = asString(node.table_name, 'table name');
    const schema = asString(node.schema_name, 'schema name');
    const catalog = asString(node.catalog_name, 'catalog name');
    checkAlias(node.alias, table);
    if (ctx.mode.kind === 'trusted') {
      if (catalog !== ctx.dataCatalog || schema !== 'main' || table !== ctx.mode.dataset) {
        throw denial('a policy-shaped relation reads another table');
      }
      return;
    }
    if (catalog !== '' || schema !== '' || !inScope(scope, table)) {
      throw denial('the query reads a table that is not a granted relation');
    }
  },
  JOIN(node, scope, ctx) {
    expectKeys(
      node,
      [
        ...TABLE_REF_COMMON,
        'left',
        'right',
        'condition',
        'join_type',
        'ref_type',
        'using_columns',
        'delim_flipped',
        'duplicate_eliminated_columns',
      ],
      'JOIN',
    );
    checkAlias(node.alias, null);
    expectOneOf(
      node.join_type,
      ['INNER', 'LEFT', 'RIGHT', 'OUTER', 'FULL', 'SEMI', 'ANTI'],
      'join type',
    );
    expectOneOf(node.ref_type, ['REGULAR', 'NATURAL', 'CROSS', 'POSITIONAL', 'ASOF'], 'join');
    if (asBoolean(node.delim_flipped, 'join flag')) throw denial('internal join forms');
    expectEmptyArray(node.duplicate_eliminated_columns, 'internal join forms');
    for (const c of asArray(node.using_columns, 'USING')) asString(c, 'USING column');
    checkTableRef(asObject(node.left, 'join side'), scope, ctx);
    checkTableRef(asObject(node.right, 'join side'), scope, ctx);
    checkOptionalExpression(node.condition, scope, ctx);
  },
  SUBQUERY(node, scope, ctx) {
    expectKeys(node, [...TABLE_REF_COMMON, 'subquery', 'column_name_alias'], 'subquery');
    checkAlias(node.alias, null);
    checkStatement(asObject(node.subquery, 'subquery'), scope, ctx);
  },
  EMPTY(node) {
    expectKeys(node, TABLE_REF_COMMON, 'empty FROM');
  },
  EXPRESSION_LIST(node, scope, ctx) {
    expectKeys(node, [...TABLE_REF_COMMON, 'values', 'expected_names', 'expected_types'], 'VALUES');
    checkAlias(node.alias, null);
    for (const row of asArray(node.values, 'VALUES')) {
      checkExpressions(row, scope, ctx, 'VALUES row');
    }
  },
};

function checkTableRef(ref: JsonObject, scope: Scope, ctx: Ctx): void {
  const type = asString(ref.type, 'table reference type');
  if (!hasOwn(tableRefHandlers, type)) throw denial(`table reference ${type} is not allowed`);
  expectNull(ref.sample, 'TABLESAMPLE');
  tableRefHandlers[type](ref, scope, deeper(ctx));
}

/** An alias may not introduce a sluice$ name, except a table aliased to its own name. */
function checkAlias(v: Json | undefined, tableName: string | null): void {
  const alias = asString(v, 'alias');
  if (alias.toLowerCase().startsWith(SHAPED_PREFIX) && alias !== tableName) {
    throw denial('a sluice$ name is reserved for policy-shaped relations');
  }
}

// ---------------------------------------------------------------------------------------------
// Expressions

type ExpressionClass =
  | 'COLUMN_REF'
  | 'CONSTANT'
  | 'FUNCTION'
  | 'COMPARISON'
  | 'CONJUNCTION'
  | 'OPERATOR'
  | 'CASE'
  | 'CAST'
  | 'BETWEEN'
  | 'SUBQUERY'
  | 'WINDOW'
  | 'STAR'
  | 'COLLATE'
  | 'POSITIONAL_REFERENCE';

const EXPR_COMMON = ['class', 'type', 'alias', 'query_location'] as const;

const COMPARISON_TYPES = [
  'COMPARE_EQUAL',
  'COMPARE_NOTEQUAL',
  'COMPARE_LESSTHAN',
  'COMPARE_GREATERTHAN',
  'COMPARE_LESSTHANOREQUALTO',
  'COMPARE_GREATERTHANOREQUALTO',
  'COMPARE_DISTINCT_FROM',
  'COMPARE_NOT_DISTINCT_FROM',
] as const;

const OPERATOR_TYPES = [
  'OPERATOR_NOT',
  'OPERATOR_IS_NULL',
  'OPERATOR_IS_NOT_NULL',
  'OPERATOR_COALESCE',
  'ARRAY_CONSTRUCTOR',
  'COMPARE_IN',
  'COMPARE_NOT_IN',
  'ARRAY_EXTRACT',
  'ARRAY_SLICE',
  'STRUCT_EXTRACT',
  'GROUPING_FUNCTION',
] as const;

const WINDOW_TYPES = [
  'WINDOW_AGGREGATE',
  'WINDOW_ROW_NUMBER',
  'WINDOW_RANK',
  'WINDOW_RANK_DENSE',
  'WINDOW_PERCENT_RANK',
  'WINDOW_CUME_DIST',
  'WINDOW_NTILE',
  'WINDOW_LAG',
  'WINDOW_LEAD',
  'WINDOW_FIRST_VALUE',
  'WINDOW_LAST_VALUE',
  'WINDOW_NTH_VALUE',
] as const;

const WINDOW_BOUNDARIES = [
  'INVALID',
  'UNBOUNDED_PRECEDING',
  'UNBOUNDED_FOLLOWING',
  'CURRENT_ROW_RANGE',
  'CURRENT_ROW_ROWS',
  'EXPR_PRECEDING_ROWS',
  'EXPR_FOLLOWING_ROWS',
  'EXPR_PRECEDING_RANGE',
  'EXPR_FOLLOWING_RANGE',
  'CURRENT_ROW_GROUPS',
  'EXPR_PRECEDING_GROUPS',
  'EXPR_FOLLOWING_GROUPS',
] as const;

const expressionHandlers: Record<ExpressionClass, Handler> = {
  COLUMN_REF(node) {
    expectKeys(node, [...EXPR_COMMON, 'column_names'], 'column reference');
    expectOneOf(node.type, ['COLUMN_REF'], 'column reference');
    for (const n of asArray(node.column_names, 'column name')) asString(n, 'column name');
  },
  CONSTANT(node) {
    expectKeys(node, [...EXPR_COMMON, 'value'], 'constant');
    expectOneOf(node.type, ['VALUE_CONSTANT'], 'constant');
    asObject(node.value, 'constant');
  },
  FUNCTION(node, scope, ctx) {
    expectKeys(
      node,
      [
        ...EXPR_COMMON,
        'function_name',
        'schema',
        'catalog',
        'children',
        'filter',
        'order_bys',
        'distinct',
        'is_operator',
        'export_state',
      ],
      'function call',
    );
    expectOneOf(node.type, ['FUNCTION'], 'function call');
    const name = asString(node.function_name, 'function name').toLowerCase();
    const isOperator = asBoolean(node.is_operator, 'function flag');
    checkFunctionLocation(node, isOperator);
    if (asBoolean(node.export_state, 'function flag')) throw denial('EXPORT_STATE');
    asBoolean(node.distinct, 'function flag');
    if (ctx.mode.kind === 'user') {
      const allowed = isOperator
        ? operatorFunctions.has(name)
        : scalarFunctions.has(name) || aggregateFunctions.has(name);
      if (!allowed) throw denial(`function ${name} is not allowed`);
    }
    checkExpressions(node.children, scope, ctx, 'function arguments');
    checkOptionalExpression(node.filter, scope, ctx);
    const orderBys = asObject(node.order_bys, 'aggregate ORDER BY');
    expectKeys(orderBys, ['type', 'orders'], 'aggregate ORDER BY');
    expectOneOf(orderBys.type, ['ORDER_MODIFIER'], 'aggregate ORDER BY');
    checkOrders(orderBys.orders, scope, ctx);
  },
  COMPARISON(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'left', 'right'], 'comparison');
    expectOneOf(node.type, COMPARISON_TYPES, 'comparison');
    checkExpression(node.left, scope, ctx);
    checkExpression(node.right, scope, ctx);
  },
  CONJUNCTION(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'children'], 'conjunction');
    expectOneOf(node.type, ['CONJUNCTION_AND', 'CONJUNCTION_OR'], 'conjunction');
    checkExpressions(node.children, scope, ctx, 'conjunction');
  },
  OPERATOR(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'children'], 'operator');
    expectOneOf(node.type, OPERATOR_TYPES, 'operator');
    checkExpressions(node.children, scope, ctx, 'operator');
  },
  CASE(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'case_checks', 'else_expr'], 'CASE');
    expectOneOf(node.type, ['CASE_EXPR'], 'CASE');
    for (const c of asArray(node.case_checks, 'CASE')) {
      const check = asObject(c, 'WHEN');
      expectKeys(check, ['when_expr', 'then_expr'], 'WHEN');
      checkExpression(check.when_expr, scope, ctx);
      checkExpression(check.then_expr, scope, ctx);
    }
    checkOptionalExpression(node.else_expr, scope, ctx);
  },
  CAST(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'child', 'cast_type', 'try_cast'], 'CAST');
    expectOneOf(node.type, ['OPERATOR_CAST'], 'CAST');
    asBoolean(node.try_cast, 'TRY_CAST');
    if (!(ctx.mode.kind === 'trusted' && isEnumCastType(node.cast_type))) {
      checkCastType(node.cast_type, 0);
    }
    checkExpression(node.child, scope, ctx);
  },
  BETWEEN(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'input', 'lower', 'upper'], 'BETWEEN');
    expectOneOf(node.type, ['COMPARE_BETWEEN'], 'BETWEEN');
    checkExpression(node.input, scope, ctx);
    checkExpression(node.lower, scope, ctx);
    checkExpression(node.upper, scope, ctx);
  },
  SUBQUERY(node, scope, ctx) {
    expectKeys(
      node,
      [...EXPR_COMMON, 'subquery_type', 'subquery', 'child', 'comparison_type'],
      'subquery',
    );
    expectOneOf(node.type, ['SUBQUERY'], 'subquery');
    expectOneOf(node.subquery_type, ['SCALAR', 'EXISTS', 'NOT_EXISTS', 'ANY'], 'subquery');
    expectOneOf(node.comparison_type, ['INVALID', ...COMPARISON_TYPES], 'subquery comparison');
    checkOptionalExpression(node.child, scope, ctx);
    checkStatement(asObject(node.subquery, 'subquery'), scope, ctx);
  },
  WINDOW(node, scope, ctx) {
    expectKeys(
      node,
      [
        ...EXPR_COMMON,
        'function_name',
        'schema',
        'catalog',
        'children',
        'partitions',
        'orders',
        'start',
        'end',
        'start_expr',
        'end_expr',
        'offset_expr',
        'default_expr',
        'ignore_nulls',
        'filter_expr',
        'exclude_clause',
        'distinct',
        'arg_orders',
      ],
      'window function',
    );
    expectOneOf(node.type, WINDOW_TYPES, 'window function');
    checkFunctionLocation(node, false);
    const name = asString(node.function_name, 'function name').toLowerCase();
    if (ctx.mode.kind === 'user' && !windowFunctions.has(name) && !aggregateFunctions.has(name)) {
      throw denial(`window function ${name} is not allowed`);
    }
    expectOneOf(node.start, WINDOW_BOUNDARIES, 'window frame');
    expectOneOf(node.end, WINDOW_BOUNDARIES, 'window frame');
    expectOneOf(
      node.exclude_clause,
      ['NO_OTHER', 'CURRENT_ROW', 'GROUP', 'TIES'],
      'window EXCLUDE',
    );
    asBoolean(node.ignore_nulls, 'IGNORE NULLS');
    asBoolean(node.distinct, 'window DISTINCT');
    checkExpressions(node.children, scope, ctx, 'window arguments');
    checkExpressions(node.partitions, scope, ctx, 'PARTITION BY');
    checkOrders(node.orders, scope, ctx);
    checkOrders(node.arg_orders, scope, ctx);
    for (const k of ['start_expr', 'end_expr', 'offset_expr', 'default_expr', 'filter_expr']) {
      checkOptionalExpression(node[k], scope, ctx);
    }
  },
  STAR(node, scope, ctx) {
    expectKeys(
      node,
      [
        ...EXPR_COMMON,
        'relation_name',
        'exclude_list',
        'replace_list',
        'columns',
        'expr',
        'qualified_exclude_list',
        'rename_list',
      ],
      'star',
    );
    expectOneOf(node.type, ['STAR'], 'star');
    asString(node.relation_name, 'star relation');
    asBoolean(node.columns, 'COLUMNS');
    asArray(node.exclude_list, 'EXCLUDE');
    asArray(node.qualified_exclude_list, 'EXCLUDE');
    asArray(node.rename_list, 'RENAME');
    for (const r of asArray(node.replace_list, 'REPLACE')) {
      const entry = asObject(r, 'REPLACE');
      expectKeys(entry, ['key', 'value'], 'REPLACE');
      checkExpression(entry.value, scope, ctx);
    }
    checkOptionalExpression(node.expr, scope, ctx);
  },
  COLLATE(node, scope, ctx) {
    expectKeys(node, [...EXPR_COMMON, 'child', 'collation'], 'COLLATE');
    expectOneOf(node.type, ['COLLATE'], 'COLLATE');
    asString(node.collation, 'collation');
    checkExpression(node.child, scope, ctx);
  },
  POSITIONAL_REFERENCE(node) {
    expectKeys(node, [...EXPR_COMMON, 'index'], 'positional reference');
    expectOneOf(node.type, ['POSITIONAL_REFERENCE'], 'positional reference');
    if (typeof node.index !== 'number') throw denial('unexpected shape of positional reference');
  },
};

function checkFunctionLocation(node: JsonObject, isOperator: boolean): void {
  const schema = asString(node.schema, 'function schema');
  const catalog = asString(node.catalog, 'function catalog');
  if (catalog !== '' || (schema !== '' && (isOperator || schema !== 'main'))) {
    throw denial('qualified function names are not allowed');
  }
}

function checkExpression(v: Json | undefined, scope: Scope, ctx: Ctx): void {
  const node = asObject(v, 'expression');
  const cls = asString(node.class, 'expression class');
  if (!hasOwn(expressionHandlers, cls)) throw denial(`expression ${cls} is not allowed`);
  asString(node.alias, 'alias');
  expressionHandlers[cls](node, scope, deeper(ctx));
}

function checkOptionalExpression(v: Json | undefined, scope: Scope, ctx: Ctx): void {
  if (v !== null) checkExpression(v, scope, ctx);
}

function checkExpressions(v: Json | undefined, scope: Scope, ctx: Ctx, what: string): void {
  for (const e of asArray(v, what)) checkExpression(e, scope, ctx);
}

// ---------------------------------------------------------------------------------------------
// Cast targets: built-in types only (a named user type could be looked up in a catalog).

const SCALAR_TYPE_IDS = new Set([
  'BOOLEAN',
  'TINYINT',
  'SMALLINT',
  'INTEGER',
  'BIGINT',
  'HUGEINT',
  'UTINYINT',
  'USMALLINT',
  'UINTEGER',
  'UBIGINT',
  'UHUGEINT',
  'FLOAT',
  'DOUBLE',
  'VARCHAR',
  'BLOB',
  'DATE',
  'TIME',
  'TIME WITH TIME ZONE',
  'TIMESTAMP',
  'TIMESTAMP WITH TIME ZONE',
  'TIMESTAMP_S',
  'TIMESTAMP_MS',
  'TIMESTAMP_NS',
  'INTERVAL',
  'UUID',
  'BIT',
  'NULL',
]);

/**
 * `ENUM('a', ...)`, as the planner casts row-filter literals to an ENUM column's own type
 * (row-filter.ts). Accepted only inside trusted bodies; the parser leaves it unbound.
 */
function isEnumCastType(v: Json | undefined): boolean {
  const type = asObject(v, 'cast target');
  if (type.id !== 'UNBOUND') return false;
  const info = asObject(type.type_info, 'cast target');
  expectKeys(
    info,
    ['type', 'alias', 'extension_info', 'name', 'catalog', 'schema', 'user_type_modifiers'],
    'ENUM',
  );
  if (info.type !== 'UNBOUND_TYPE_INFO' || String(info.name).toUpperCase() !== 'ENUM') return false;
  expectOneOf(info.catalog, [''], 'ENUM');
  expectOneOf(info.schema, [''], 'ENUM');
  expectNull(info.extension_info ?? null, 'a type extension');
  for (const m of asArray(info.user_type_modifiers, 'ENUM')) {
    const member = asObject(m, 'ENUM member');
    expectKeys(member, ['type', 'is_null', 'value'], 'ENUM member');
    expectOneOf(asObject(member.type, 'ENUM member').id, ['VARCHAR'], 'ENUM member');
    asString(member.value, 'ENUM member');
  }
  return true;
}

function checkCastType(v: Json | undefined, depth: number): void {
  if (depth > 32) throw denial('cast target is nested too deeply');
  const type = asObject(v, 'cast target');
  expectKeys(type, ['id', 'type_info'], 'cast target');
  const id = asString(type.id, 'cast target');
  if (SCALAR_TYPE_IDS.has(id)) {
    // VARCHAR may carry a collation; nothing else is expected.
    if (type.type_info !== null) {
      const info = asObject(type.type_info, 'cast target');
      expectKeys(info, ['type', 'alias', 'extension_info', 'collation'], 'cast target');
      expectOneOf(info.type, ['STRING_TYPE_INFO'], 'cast target');
      expectNull(info.extension_info ?? null, 'a type extension');
    }
    return;
  }
  if (!['DECIMAL', 'LIST', 'MAP', 'ARRAY', 'STRUCT'].includes(id)) {
    throw denial(`cast to ${id} is not allowed`);
  }
  const info = asObject(type.type_info, 'cast target');
  expectNull(info.extension_info ?? null, 'a type extension');
  switch (id) {
    case 'DECIMAL':
      expectKeys(info, ['type', 'alias', 'extension_info', 'width', 'scale'], 'DECIMAL');
      expectOneOf(info.type, ['DECIMAL_TYPE_INFO'], 'DECIMAL');
      return;
    case 'LIST':
    case 'MAP':
      expectKeys(info, ['type', 'alias', 'extension_info', 'child_type'], 'LIST');
      expectOneOf(info.type, ['LIST_TYPE_INFO'], 'LIST');
      checkCastType(info.child_type, depth + 1);
      return;
    case 'ARRAY':
      expectKeys(info, ['type', 'alias', 'extension_info', 'child_type', 'size'], 'ARRAY');
      expectOneOf(info.type, ['ARRAY_TYPE_INFO'], 'ARRAY');
      checkCastType(info.child_type, depth + 1);
      return;
    case 'STRUCT':
      expectKeys(info, ['type', 'alias', 'extension_info', 'child_types'], 'STRUCT');
      expectOneOf(info.type, ['STRUCT_TYPE_INFO'], 'STRUCT');
      for (const c of asArray(info.child_types, 'STRUCT')) {
        const child = asObject(c, 'STRUCT field');
        expectKeys(child, ['first', 'second'], 'STRUCT field');
        asString(child.first, 'STRUCT field');
        checkCastType(child.second, depth + 1);
      }
      return;
    default:
      throw denial(`cast to ${id} is not allowed`);
  }
}
