import sqlParser from 'node-sql-parser/build/postgresql.js';
import { deny, isSluiceError } from '../gateway/errors.ts';
import { foldName, isReservedName, reservedPrefix, shownName } from './sql-lex.ts';
import { emptySetMarker, groupingSetsMarker, normalizeSql, setAllMarker } from './sql-normalize.ts';
import {
  type BinaryOp,
  type Cte,
  type Expr,
  type ExtractField,
  type FrameBound,
  type FromItem,
  freezeTree,
  type GroupingItem,
  type IntervalUnit,
  type JoinType,
  type OrderItem,
  type Query,
  type QueryBody,
  type Select,
  type SelectItem,
  type WindowFrame,
  type WindowSpec,
} from './sql-tree.ts';

/**
 * Parses one SELECT with node-sql-parser (PostgreSQL dialect) and converts its output into the
 * planner's own tree. Conversion is strict: every node kind and every field is either
 * understood or refused (UNSUPPORTED_SQL), so a construct the parser knows but the planner
 * does not can never pass through. node-sql-parser's known deviations are repaired here:
 * - it binds AND tighter than OR the wrong way round (`a AND b OR c` comes back as
 *   `a AND (b OR c)`) and mis-nests a few other operators, so every unparenthesised operator
 *   chain is flattened back to source order and re-associated with PostgreSQL/DuckDB
 *   precedence;
 * - `NOT (x)` comes back as a function named NOT;
 * - set operations come back as a flat chain without precedence (INTERSECT binds tighter);
 * - a derived-table column alias list comes back as one alias string `t(a, b)`.
 */

const { Parser } = sqlParser;
const parser = new Parser();

const maxExprDepth = 200;
const maxQueryDepth = 50;
const maxSqlLength = 100_000;
const maxChainPieces = 2000;

type Raw = Record<string, unknown>;

/** A table lookup that never reaches Object.prototype (`constructor`, `toString`, ...). */
function lookup<T>(table: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function unsupported(what: string): never {
  throw deny.unsupported(`unsupported SQL: ${what}`);
}

function isRaw(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
  return v === null || v === undefined || v === false || (Array.isArray(v) && v.length === 0);
}

/** Refuses any field outside `known` that carries a value. */
function checkKeys(node: Raw, where: string, known: readonly string[]): void {
  for (const [k, v] of Object.entries(node)) {
    if (!known.includes(k) && !isEmpty(v)) unsupported(`${where} (${k})`);
  }
}

function raw(v: unknown, where: string): Raw {
  if (!isRaw(v)) unsupported(where);
  return v;
}

function list(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) unsupported(where);
  return v;
}

function checkName(name: string, where: string): string {
  if (name.length === 0) unsupported(`empty ${where}`);
  if (isReservedName(name)) {
    throw deny.policy(`identifiers starting with ${reservedPrefix} are reserved`);
  }
  return name;
}

/** An identifier node-sql-parser gives as a string or as `{type: default|double_quote_string}`. */
function ident(v: unknown, where: string): string {
  if (typeof v === 'string') return checkName(v, where);
  if (isRaw(v) && (v.type === 'default' || v.type === 'double_quote_string')) {
    checkKeys(v, where, ['type', 'value']);
    if (typeof v.value === 'string') return checkName(v.value, where);
  }
  return unsupported(where);
}

const plainIdent = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*$/;
const aliasListRe = /^([^()]+)\(([^()]*)\)$/;

/** Splits node-sql-parser's `name(a, b)` alias string into the alias and its column list. */
function relationAlias(v: unknown, where: string): { alias?: string; columns?: string[] } {
  if (v === null || v === undefined) return {};
  if (typeof v !== 'string') unsupported(where);
  if (!v.includes('(')) return { alias: checkName(v, where) };
  const m = aliasListRe.exec(v);
  if (!m) unsupported(where);
  const alias = m[1]!.trim();
  const columns = m[2]!.split(',').map((c) => c.trim());
  if (!plainIdent.test(alias) || columns.some((c) => !plainIdent.test(c))) unsupported(where);
  return { alias: checkName(alias, where), columns: columns.map((c) => checkName(c, where)) };
}

// ---------------------------------------------------------------- literals and types

const numericText = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function numberText(v: unknown, where: string): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) unsupported(where);
    const s = String(v);
    if (!numericText.test(s)) unsupported(where);
    return s;
  }
  if (typeof v === 'string' && numericText.test(v)) return v;
  return unsupported(where);
}

function nonNegativeInteger(v: unknown, where: string): string {
  const n = raw(v, where);
  if (n.type !== 'number') unsupported(where);
  checkKeys(n, where, ['type', 'value']);
  const text = numberText(n.value, where);
  if (!/^\d+$/.test(text)) unsupported(where);
  return text;
}

function stringValue(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.includes('\\') || v.includes('\0')) unsupported(where);
  return v.replaceAll("''", "'");
}

/** Types a query may cast to, in node-sql-parser's spelling, mapped to DuckDB's. */
const castTypes: Readonly<Record<string, string>> = {
  INTEGER: 'INTEGER',
  INT: 'INTEGER',
  BIGINT: 'BIGINT',
  SMALLINT: 'SMALLINT',
  TINYINT: 'TINYINT',
  DOUBLE: 'DOUBLE',
  'DOUBLE PRECISION': 'DOUBLE',
  FLOAT: 'FLOAT',
  REAL: 'REAL',
  VARCHAR: 'VARCHAR',
  TEXT: 'VARCHAR',
  CHAR: 'VARCHAR',
  DATE: 'DATE',
  TIME: 'TIME',
  TIMESTAMP: 'TIMESTAMP',
  TIMESTAMPTZ: 'TIMESTAMPTZ',
  BOOLEAN: 'BOOLEAN',
  BOOL: 'BOOLEAN',
  INTERVAL: 'INTERVAL',
  DECIMAL: 'DECIMAL',
  NUMERIC: 'DECIMAL',
};

const intAliases: Readonly<Record<string, string>> = {
  '2': 'SMALLINT',
  '4': 'INTEGER',
  '8': 'BIGINT',
};

function castType(v: unknown): string {
  const t = raw(v, 'cast type');
  checkKeys(t, 'cast type', ['dataType', 'length', 'scale', 'parentheses', 'suffix']);
  const name = typeof t.dataType === 'string' ? t.dataType.toUpperCase() : '';
  const mapped = lookup(castTypes, name);
  if (!mapped) unsupported(`cast to ${name || 'this type'}`);
  const suffix = (t.suffix ?? []) as unknown[];
  if (!Array.isArray(suffix)) unsupported('cast type');
  const suffixText = suffix.map((s) => String(s).toUpperCase()).join(' ');
  if (mapped === 'TIMESTAMP' && suffixText === 'WITH TIME ZONE') return 'TIMESTAMPTZ';
  if (suffixText !== '') unsupported(`cast type modifier ${suffixText}`);
  const length = t.length ?? null;
  const scale = t.scale ?? null;
  if (mapped === 'INTEGER' && name === 'INT' && length !== null && !t.parentheses) {
    const alias = lookup(intAliases, String(length));
    if (!alias) unsupported('cast type');
    return alias;
  }
  if (mapped === 'DECIMAL') {
    if (length === null) return scale === null ? 'DECIMAL' : unsupported('cast type');
    if (!Number.isInteger(length) || (length as number) < 1 || (length as number) > 38) {
      unsupported('decimal precision');
    }
    if (scale === null) return `DECIMAL(${length})`;
    if (
      !Number.isInteger(scale) ||
      (scale as number) < 0 ||
      (scale as number) > (length as number)
    ) {
      unsupported('decimal scale');
    }
    return `DECIMAL(${length},${scale})`;
  }
  // DuckDB ignores VARCHAR/CHAR lengths; the planner renders plain VARCHAR.
  if (mapped === 'VARCHAR') {
    if (length !== null && !(Number.isInteger(length) && (length as number) > 0))
      unsupported('cast type');
    if (scale !== null) unsupported('cast type');
    return 'VARCHAR';
  }
  if (length !== null || scale !== null) unsupported(`cast type ${name} with length`);
  return mapped;
}

const intervalUnits: Readonly<Record<string, IntervalUnit>> = {
  year: 'YEAR',
  years: 'YEAR',
  month: 'MONTH',
  months: 'MONTH',
  day: 'DAY',
  days: 'DAY',
  hour: 'HOUR',
  hours: 'HOUR',
  minute: 'MINUTE',
  minutes: 'MINUTE',
  second: 'SECOND',
  seconds: 'SECOND',
  week: 'WEEK',
  weeks: 'WEEK',
  quarter: 'QUARTER',
  quarters: 'QUARTER',
};

const extractFields: ReadonlySet<string> = new Set<ExtractField>([
  'YEAR',
  'MONTH',
  'DAY',
  'HOUR',
  'MINUTE',
  'SECOND',
  'QUARTER',
  'WEEK',
  'DOW',
  'DOY',
  'ISODOW',
  'ISOYEAR',
  'EPOCH',
  'DECADE',
  'CENTURY',
  'MILLENNIUM',
  'MILLISECOND',
  'MICROSECOND',
]);

// ---------------------------------------------------------------- operator re-association

const infixOps: Readonly<Record<string, BinaryOp>> = {
  AND: 'AND',
  OR: 'OR',
  '=': '=',
  '<>': '<>',
  '!=': '!=',
  '<': '<',
  '<=': '<=',
  '>': '>',
  '>=': '>=',
  '+': '+',
  '-': '-',
  '*': '*',
  '/': '/',
  '%': '%',
  '||': '||',
  LIKE: 'LIKE',
  'NOT LIKE': 'NOT LIKE',
  ILIKE: 'ILIKE',
  'NOT ILIKE': 'NOT ILIKE',
  'SIMILAR TO': 'SIMILAR TO',
  'NOT SIMILAR TO': 'NOT SIMILAR TO',
  '~': '~',
  '!~': '!~',
};

/** PostgreSQL/DuckDB precedence, higher binds tighter. */
const infixPrecedence: Readonly<Record<BinaryOp, number>> = {
  OR: 1,
  AND: 2,
  '=': 5,
  '<>': 5,
  '!=': 5,
  '<': 5,
  '<=': 5,
  '>': 5,
  '>=': 5,
  LIKE: 6,
  'NOT LIKE': 6,
  ILIKE: 6,
  'NOT ILIKE': 6,
  'SIMILAR TO': 6,
  'NOT SIMILAR TO': 6,
  '||': 7,
  '~': 7,
  '!~': 7,
  '+': 8,
  '-': 8,
  '*': 9,
  '/': 9,
  '%': 9,
};
const notPrecedence = 3;
const isPrecedence = 4;
const membershipPrecedence = 6;
const signPrecedence = 11;

type Piece =
  | { readonly t: 'operand'; readonly expr: Expr }
  | { readonly t: 'prefix'; readonly op: 'NOT' | '-' | '+' }
  | { readonly t: 'infix'; readonly op: BinaryOp }
  | { readonly t: 'postfix'; readonly prec: number; readonly build: (left: Expr) => Expr };

function isNotFunction(n: Raw): boolean {
  if (n.type !== 'function' || !isRaw(n.name)) return false;
  const parts = n.name.name;
  return (
    Array.isArray(parts) &&
    parts.length === 1 &&
    isRaw(parts[0]) &&
    parts[0].type === 'default' &&
    String(parts[0].value).toUpperCase() === 'NOT'
  );
}

// ---------------------------------------------------------------- converter

class Converter {
  private depth = 0;
  private queryDepth = 0;

  expr(v: unknown, where: string): Expr {
    const n = raw(v, where);
    if (++this.depth > maxExprDepth) unsupported(`expressions nested deeper than ${maxExprDepth}`);
    try {
      if (this.isOperatorNode(n)) return this.reassociate(n);
      return this.atom(n, where);
    } finally {
      this.depth--;
    }
  }

  private isOperatorNode(n: Raw): boolean {
    if (n.type === 'binary_expr') return true;
    if (n.type === 'unary_expr')
      return n.operator === 'NOT' || n.operator === '-' || n.operator === '+';
    return isNotFunction(n);
  }

  /** Flattens an unparenthesised operator tree into source order and rebuilds it. */
  private reassociate(root: Raw): Expr {
    const pieces: Piece[] = [];
    this.flatten(root, true, pieces);
    // A chain of n operators nests n deep once rebuilt; later stages recurse over it.
    if (pieces.length > maxChainPieces)
      unsupported(`more than ${maxChainPieces / 2} operators in one expression`);
    let pos = 0;
    const parse = (minPrec: number): Expr => {
      let left: Expr;
      const head = pieces[pos++];
      if (!head) return unsupported('operator without operand');
      if (head.t === 'prefix') {
        const operand = parse(head.op === 'NOT' ? notPrecedence : signPrecedence);
        left = { kind: 'unary', op: head.op, expr: operand };
      } else if (head.t === 'operand') {
        left = head.expr;
      } else {
        return unsupported('operator without operand');
      }
      for (;;) {
        const next = pieces[pos];
        if (!next) break;
        if (next.t === 'infix') {
          const prec = infixPrecedence[next.op];
          if (prec < minPrec) break;
          pos++;
          const right = parse(prec + 1);
          left = { kind: 'binary', op: next.op, left, right };
        } else if (next.t === 'postfix') {
          if (next.prec < minPrec) break;
          pos++;
          left = next.build(left);
        } else {
          return unsupported('operand without operator');
        }
      }
      return left;
    };
    const result = parse(0);
    if (pos !== pieces.length) unsupported('operator sequence');
    return result;
  }

  private flatten(n: Raw, isRoot: boolean, out: Piece[]): void {
    if (!isRoot && n.parentheses === true) {
      out.push({ t: 'operand', expr: this.expr(n, 'expression') });
      return;
    }
    if (
      n.type === 'unary_expr' &&
      (n.operator === 'NOT' || n.operator === '-' || n.operator === '+')
    ) {
      checkKeys(n, 'unary expression', ['type', 'operator', 'expr', 'parentheses']);
      out.push({ t: 'prefix', op: n.operator });
      this.flatten(raw(n.expr, 'unary operand'), false, out);
      return;
    }
    if (isNotFunction(n)) {
      checkKeys(n, 'NOT', ['type', 'name', 'args', 'over', 'parentheses']);
      const args = list(raw(n.args, 'NOT').value, 'NOT');
      if (args.length !== 1) unsupported('NOT');
      out.push({ t: 'prefix', op: 'NOT' });
      out.push({ t: 'operand', expr: this.expr(args[0], 'NOT operand') });
      return;
    }
    if (n.type !== 'binary_expr') {
      out.push({ t: 'operand', expr: this.atom(n, 'expression') });
      return;
    }
    checkKeys(n, 'binary expression', ['type', 'operator', 'left', 'right', 'parentheses']);
    const op = String(n.operator).toUpperCase();
    const left = raw(n.left, 'left operand');
    const right = raw(n.right, 'right operand');
    const infix = lookup(infixOps, op);
    if (infix) {
      this.flatten(left, false, out);
      out.push({ t: 'infix', op: infix });
      this.flatten(right, false, out);
      return;
    }
    if (op === 'BETWEEN' || op === 'NOT BETWEEN') {
      if (right.type !== 'expr_list') unsupported('BETWEEN');
      const bounds = list(right.value, 'BETWEEN');
      if (bounds.length !== 2) unsupported('BETWEEN');
      const low = this.expr(bounds[0], 'BETWEEN bound');
      const high = this.expr(bounds[1], 'BETWEEN bound');
      const not = op === 'NOT BETWEEN';
      this.flatten(left, false, out);
      out.push({
        t: 'postfix',
        prec: membershipPrecedence,
        build: (expr) => ({ kind: 'between', not, expr, low, high }),
      });
      return;
    }
    if (op === 'IN' || op === 'NOT IN') {
      const not = op === 'NOT IN';
      if (right.type !== 'expr_list') unsupported('IN');
      checkKeys(right, 'IN list', ['type', 'value', 'parentheses']);
      const items = list(right.value, 'IN list');
      let build: (expr: Expr) => Expr;
      const only = items.length === 1 && isRaw(items[0]) ? items[0] : undefined;
      if (only && only.type === undefined && 'ast' in only) {
        const query = this.subquery(only);
        build = (expr) => ({ kind: 'inQuery', not, expr, query });
      } else {
        if (items.length === 0) unsupported('empty IN list');
        const values = items.map((i) => this.expr(i, 'IN list item'));
        build = (expr) => ({ kind: 'inList', not, expr, list: values });
      }
      this.flatten(left, false, out);
      out.push({ t: 'postfix', prec: membershipPrecedence, build });
      return;
    }
    if (op === 'IS' || op === 'IS NOT') {
      const not = op === 'IS NOT';
      let what: 'NULL' | 'TRUE' | 'FALSE';
      if (right.type === 'null') what = 'NULL';
      else if (right.type === 'bool') what = right.value === true ? 'TRUE' : 'FALSE';
      else unsupported(`${op} with this operand`);
      this.flatten(left, false, out);
      out.push({
        t: 'postfix',
        prec: isPrecedence,
        build: (expr) => ({ kind: 'is', not, expr, what }),
      });
      return;
    }
    unsupported(`operator ${op}`);
  }

  /** Converts a node that is not an operator chain. */
  private atom(n: Raw, where: string): Expr {
    if (n.type === undefined && 'ast' in n) return { kind: 'scalarQuery', query: this.subquery(n) };
    const kind = typeof n.type === 'string' ? n.type : '';
    const handler = Object.hasOwn(this.atoms, kind) ? this.atoms[kind] : undefined;
    if (!handler) return unsupported(`${where} of kind ${kind || 'unknown'}`);
    return handler(n);
  }

  private readonly atoms: Readonly<Record<string, (n: Raw) => Expr>> = {
    column_ref: (n) => this.columnRef(n),
    number: (n) => {
      checkKeys(n, 'number', ['type', 'value', 'parentheses']);
      return { kind: 'number', text: numberText(n.value, 'number') };
    },
    bigint: (n) => {
      checkKeys(n, 'number', ['type', 'value', 'parentheses']);
      return { kind: 'number', text: numberText(n.value, 'number') };
    },
    single_quote_string: (n) => {
      checkKeys(n, 'string', ['type', 'value', 'parentheses']);
      return { kind: 'string', value: stringValue(n.value, 'string literal') };
    },
    bool: (n) => {
      checkKeys(n, 'boolean', ['type', 'value', 'parentheses']);
      if (typeof n.value !== 'boolean') unsupported('boolean');
      return { kind: 'bool', value: n.value };
    },
    null: (n) => {
      checkKeys(n, 'NULL', ['type', 'value', 'parentheses']);
      return { kind: 'null' };
    },
    date: (n) => this.typedLiteral(n, 'DATE'),
    time: (n) => this.typedLiteral(n, 'TIME'),
    timestamp: (n) => this.typedLiteral(n, 'TIMESTAMP'),
    interval: (n) => {
      checkKeys(n, 'interval', ['type', 'expr', 'unit', 'parentheses']);
      const e = raw(n.expr, 'interval');
      let value: { kind: 'string'; value: string } | { kind: 'number'; text: string };
      if (e.type === 'single_quote_string') {
        checkKeys(e, 'interval', ['type', 'value']);
        value = { kind: 'string', value: stringValue(e.value, 'interval') };
      } else if (e.type === 'number') {
        checkKeys(e, 'interval', ['type', 'value']);
        value = { kind: 'number', text: numberText(e.value, 'interval') };
      } else return unsupported('interval value');
      if (n.unit === '' || n.unit === null || n.unit === undefined)
        return { kind: 'interval', value };
      const unit =
        typeof n.unit === 'string' ? lookup(intervalUnits, n.unit.toLowerCase()) : undefined;
      if (!unit) return unsupported('interval unit');
      return { kind: 'interval', value, unit };
    },
    case: (n) => {
      checkKeys(n, 'CASE', ['type', 'expr', 'args', 'parentheses']);
      const operand = n.expr ? this.expr(n.expr, 'CASE operand') : undefined;
      const whens: { when: Expr; result: Expr }[] = [];
      let otherwise: Expr | undefined;
      const args = list(n.args, 'CASE');
      args.forEach((a, i) => {
        const arm = raw(a, 'CASE arm');
        if (arm.type === 'when' && otherwise === undefined) {
          checkKeys(arm, 'WHEN', ['type', 'cond', 'result']);
          whens.push({ when: this.expr(arm.cond, 'WHEN'), result: this.expr(arm.result, 'THEN') });
        } else if (arm.type === 'else' && i === args.length - 1) {
          checkKeys(arm, 'ELSE', ['type', 'result']);
          otherwise = this.expr(arm.result, 'ELSE');
        } else unsupported('CASE arm');
      });
      if (whens.length === 0) unsupported('CASE without WHEN');
      return {
        kind: 'case',
        ...(operand ? { operand } : {}),
        whens,
        ...(otherwise ? { else: otherwise } : {}),
      };
    },
    cast: (n) => {
      checkKeys(n, 'CAST', ['type', 'keyword', 'expr', 'symbol', 'target', 'parentheses']);
      if (n.keyword !== 'cast' || (n.symbol !== 'as' && n.symbol !== '::')) unsupported('CAST');
      let e = this.expr(n.expr, 'CAST operand');
      const targets = list(n.target, 'CAST');
      if (targets.length === 0) unsupported('CAST');
      for (const t of targets) e = { kind: 'cast', expr: e, type: castType(t) };
      return e;
    },
    extract: (n) => {
      checkKeys(n, 'EXTRACT', ['type', 'args', 'parentheses']);
      const a = raw(n.args, 'EXTRACT');
      checkKeys(a, 'EXTRACT', ['field', 'source', 'cast_type']);
      const field = typeof a.field === 'string' ? a.field.toUpperCase() : '';
      if (!extractFields.has(field)) unsupported('EXTRACT field');
      if (a.cast_type === null || a.cast_type === undefined) {
        return {
          kind: 'extract',
          field: field as ExtractField,
          source: this.expr(a.source, 'EXTRACT'),
        };
      }
      // `extract(f FROM DATE '...')`: the parser splits the typed literal into type and string.
      const type = String(a.cast_type).toUpperCase();
      const src = raw(a.source, 'EXTRACT');
      if (
        (type !== 'DATE' && type !== 'TIME' && type !== 'TIMESTAMP') ||
        src.type !== 'single_quote_string'
      ) {
        unsupported('EXTRACT source');
      }
      checkKeys(src, 'EXTRACT', ['type', 'value']);
      return {
        kind: 'extract',
        field: field as ExtractField,
        source: { kind: 'typed', type, value: stringValue(src.value, 'EXTRACT') },
      };
    },
    function: (n) => this.functionCall(n),
    aggr_func: (n) => this.aggregateCall(n),
    window_func: (n) => this.windowCall(n),
    unary_expr: (n) => {
      checkKeys(n, 'unary expression', ['type', 'operator', 'expr', 'parentheses']);
      if (n.operator === 'EXISTS' || n.operator === 'NOT EXISTS') {
        return {
          kind: 'exists',
          not: n.operator === 'NOT EXISTS',
          query: this.subquery(raw(n.expr, 'EXISTS')),
        };
      }
      return unsupported(`operator ${String(n.operator)}`);
    },
  };

  private typedLiteral(n: Raw, type: 'DATE' | 'TIME' | 'TIMESTAMP'): Expr {
    checkKeys(n, type, ['type', 'value', 'parentheses']);
    return { kind: 'typed', type, value: stringValue(n.value, `${type} literal`) };
  }

  private columnRef(n: Raw): Expr {
    if (!isEmpty(n.schema) || !isEmpty(n.db))
      throw deny.policy('schema-qualified column names are not allowed');
    if (!isEmpty(n.collate)) unsupported('COLLATE');
    checkKeys(n, 'column reference', ['type', 'table', 'column', 'parentheses']);
    if (n.column === '*') unsupported('* in an expression');
    const column = raw(n.column, 'column reference');
    checkKeys(column, 'column reference', ['expr']);
    const name = ident(column.expr, 'column name');
    if (n.table === null || n.table === undefined) return { kind: 'column', name };
    return { kind: 'column', table: ident(n.table, 'column qualifier'), name };
  }

  private functionName(n: Raw): string {
    const name = raw(n.name, 'function name');
    if (name.schema !== undefined && name.schema !== null) {
      throw deny.policy('schema-qualified function names are not allowed');
    }
    checkKeys(name, 'function name', ['name']);
    const parts = list(name.name, 'function name');
    if (parts.length !== 1) throw deny.policy('schema-qualified function names are not allowed');
    const part = raw(parts[0], 'function name');
    checkKeys(part, 'function name', ['type', 'value']);
    if (typeof part.value !== 'string') unsupported('function name');
    if (part.type !== 'default' && part.type !== 'origin' && part.type !== 'double_quote_string') {
      unsupported('function name');
    }
    return foldName(part.value);
  }

  private argList(v: unknown, where: string): unknown[] {
    if (v === undefined || v === null) return [];
    const a = raw(v, where);
    if (a.type !== 'expr_list') unsupported(where);
    checkKeys(a, where, ['type', 'value']);
    return list(a.value, where);
  }

  private functionCall(n: Raw): Expr {
    checkKeys(n, 'function call', [
      'type',
      'name',
      'args',
      'over',
      'separator',
      'parentheses',
      'filter',
    ]);
    const name = this.functionName(n);
    const rawArgs = this.argList(n.args, 'function arguments');
    if (name === 'exists') {
      checkKeys(n, 'EXISTS', ['type', 'name', 'args', 'parentheses']);
      const only = rawArgs.length === 1 ? raw(rawArgs[0], 'EXISTS') : undefined;
      if (!only || only.type !== undefined || !('ast' in only)) unsupported('EXISTS');
      return { kind: 'exists', not: false, query: this.subquery(only) };
    }
    if (name.startsWith(reservedPrefix)) unsupported('misplaced GROUPING SETS or set quantifier');
    if (name === 'rollup' || name === 'cube') unsupported(`${name.toUpperCase()} outside GROUP BY`);
    if (name === 'position' && rawArgs.length === 3) {
      const mid = raw(rawArgs[1], 'position');
      if (
        mid.type === 'origin' &&
        String(mid.value).toLowerCase() === 'in' &&
        !n.over &&
        !n.filter
      ) {
        return {
          kind: 'position',
          needle: this.expr(rawArgs[0], 'position'),
          haystack: this.expr(rawArgs[2], 'position'),
        };
      }
    }
    if (n.separator !== undefined && n.separator !== null) unsupported(`${shownName(name)} syntax`);
    const args = rawArgs.map((a) => {
      if (isRaw(a) && a.type === 'origin') unsupported(`${shownName(name)} syntax`);
      return this.expr(a, 'function argument');
    });
    const niladic = n.args === undefined || n.args === null;
    if (niladic && name !== 'current_date') unsupported(`${shownName(name)} without parentheses`);
    return {
      kind: 'call',
      name,
      args,
      star: false,
      distinct: false,
      orderBy: [],
      ...(n.filter ? { filter: this.filterClause(n.filter) } : {}),
      ...(n.over ? { over: this.windowSpec(n.over) } : {}),
      ...(niladic ? { niladic: true } : {}),
    };
  }

  private aggregateCall(n: Raw): Expr {
    checkKeys(n, 'aggregate call', ['type', 'name', 'args', 'over', 'filter', 'parentheses']);
    if (typeof n.name !== 'string') unsupported('aggregate name');
    const name = foldName(n.name);
    const a = raw(n.args, 'aggregate arguments');
    checkKeys(a, 'aggregate arguments', [
      'expr',
      'distinct',
      'orderby',
      'separator',
      'parentheses',
    ]);
    const argNode = raw(a.expr, 'aggregate argument');
    let star = false;
    const args: Expr[] = [];
    if (argNode.type === 'star') {
      checkKeys(argNode, 'aggregate argument', ['type', 'value']);
      if (argNode.value !== '*' || name !== 'count') unsupported(`${shownName(name)}(*)`);
      star = true;
    } else {
      args.push(this.expr(argNode, 'aggregate argument'));
    }
    if (a.distinct !== null && a.distinct !== undefined && a.distinct !== 'DISTINCT')
      unsupported('DISTINCT');
    if (a.separator !== null && a.separator !== undefined) {
      const sep = raw(a.separator, 'aggregate separator');
      checkKeys(sep, 'aggregate separator', ['symbol', 'delimiter']);
      if (sep.symbol !== ',') unsupported('aggregate separator');
      args.push(this.expr(sep.delimiter, 'aggregate argument'));
    }
    return {
      kind: 'call',
      name,
      args,
      star,
      distinct: a.distinct === 'DISTINCT',
      orderBy: a.orderby ? this.orderBy(a.orderby) : [],
      ...(n.filter ? { filter: this.filterClause(n.filter) } : {}),
      ...(n.over ? { over: this.windowSpec(n.over) } : {}),
    };
  }

  private windowCall(n: Raw): Expr {
    checkKeys(n, 'window function', [
      'type',
      'name',
      'args',
      'over',
      'consider_nulls',
      'parentheses',
    ]);
    if (typeof n.name !== 'string') unsupported('window function name');
    const name = foldName(n.name);
    if (!n.over) unsupported(`${shownName(name)} without OVER`);
    let nulls: 'IGNORE NULLS' | 'RESPECT NULLS' | undefined;
    if (n.consider_nulls !== null && n.consider_nulls !== undefined) {
      const c = String(n.consider_nulls).toUpperCase();
      if (c !== 'IGNORE NULLS' && c !== 'RESPECT NULLS') unsupported('null treatment');
      nulls = c;
    }
    return {
      kind: 'call',
      name,
      args: this.argList(n.args, 'window function arguments').map((x) =>
        this.expr(x, 'window function argument'),
      ),
      star: false,
      distinct: false,
      orderBy: [],
      over: this.windowSpec(n.over),
      ...(nulls ? { nulls } : {}),
    };
  }

  private filterClause(v: unknown): Expr {
    const f = raw(v, 'FILTER');
    checkKeys(f, 'FILTER', ['keyword', 'parentheses', 'where']);
    if (f.keyword !== 'filter') unsupported('FILTER');
    return this.expr(f.where, 'FILTER');
  }

  private windowSpec(v: unknown): WindowSpec {
    const over = raw(v, 'OVER');
    checkKeys(over, 'OVER', ['type', 'as_window_specification']);
    if (over.type !== 'window') unsupported('OVER');
    if (!isRaw(over.as_window_specification)) unsupported('named windows');
    const wrapper = over.as_window_specification;
    checkKeys(wrapper, 'OVER', ['window_specification', 'parentheses']);
    const spec = raw(wrapper.window_specification, 'OVER');
    checkKeys(spec, 'window specification', ['partitionby', 'orderby', 'window_frame_clause']);
    const partitionBy = spec.partitionby
      ? list(spec.partitionby, 'PARTITION BY').map((p) => {
          const item = raw(p, 'PARTITION BY');
          checkKeys(item, 'PARTITION BY', ['type', 'expr']);
          if (item.type !== 'expr') unsupported('PARTITION BY');
          return this.expr(item.expr, 'PARTITION BY');
        })
      : [];
    const orderBy = spec.orderby ? this.orderBy(spec.orderby) : [];
    const frame = spec.window_frame_clause
      ? this.windowFrame(raw(spec.window_frame_clause, 'frame'))
      : undefined;
    return { partitionBy, orderBy, ...(frame ? { frame } : {}) };
  }

  private windowFrame(f: Raw): WindowFrame {
    const bound = (v: unknown): FrameBound => {
      const b = raw(v, 'frame bound');
      checkKeys(b, 'frame bound', ['type', 'value']);
      if (b.type !== 'origin' && b.type !== 'number') unsupported('frame bound');
      const text = String(b.value).trim().toUpperCase().replace(/\s+/g, ' ');
      if (text === 'UNBOUNDED PRECEDING') return { kind: 'unboundedPreceding' };
      if (text === 'UNBOUNDED FOLLOWING') return { kind: 'unboundedFollowing' };
      if (text === 'CURRENT ROW') return { kind: 'currentRow' };
      const m = /^(\d+) (PRECEDING|FOLLOWING)$/.exec(text);
      if (!m) return unsupported('frame bound');
      return { kind: m[2] === 'PRECEDING' ? 'preceding' : 'following', offset: m[1]! };
    };
    if (f.type === 'rows' || f.type === 'range') {
      checkKeys(f, 'frame', ['type', 'expr']);
      return { unit: f.type === 'rows' ? 'ROWS' : 'RANGE', start: bound(f.expr) };
    }
    if (f.type === 'binary_expr' && f.operator === 'BETWEEN') {
      checkKeys(f, 'frame', ['type', 'operator', 'left', 'right']);
      const unit = raw(f.left, 'frame');
      checkKeys(unit, 'frame', ['type', 'value']);
      const u = String(unit.value).toUpperCase();
      if (unit.type !== 'origin' || (u !== 'ROWS' && u !== 'RANGE')) unsupported('frame unit');
      const bounds = list(raw(f.right, 'frame').value, 'frame');
      if (bounds.length !== 2) unsupported('frame');
      return { unit: u, start: bound(bounds[0]), end: bound(bounds[1]) };
    }
    return unsupported('frame');
  }

  orderBy(v: unknown): OrderItem[] {
    return list(v, 'ORDER BY').map((o) => {
      const item = raw(o, 'ORDER BY');
      checkKeys(item, 'ORDER BY', ['expr', 'type', 'nulls']);
      let dir: 'ASC' | 'DESC' | undefined;
      if (item.type !== null && item.type !== undefined) {
        const d = String(item.type).toUpperCase();
        if (d !== 'ASC' && d !== 'DESC') unsupported('ORDER BY direction');
        dir = d;
      }
      let nulls: 'NULLS FIRST' | 'NULLS LAST' | undefined;
      if (item.nulls !== null && item.nulls !== undefined) {
        const x = String(item.nulls).toUpperCase();
        if (x !== 'NULLS FIRST' && x !== 'NULLS LAST') unsupported('ORDER BY NULLS');
        nulls = x;
      }
      return {
        expr: this.expr(item.expr, 'ORDER BY'),
        ...(dir ? { dir } : {}),
        ...(nulls ? { nulls } : {}),
      };
    });
  }

  // -------------------------------------------------------------- queries

  private subquery(n: Raw): Query {
    checkKeys(n, 'subquery', ['ast', 'parentheses', 'tableList', 'columnList']);
    return this.statement(raw(n.ast, 'subquery'));
  }

  /** A select node with its set-operation chain (`_next`) and WITH clause. */
  statement(head: Raw): Query {
    if (++this.queryDepth > maxQueryDepth)
      unsupported(`queries nested deeper than ${maxQueryDepth}`);
    try {
      return this.statementAt(head);
    } finally {
      this.queryDepth--;
    }
  }

  private statementAt(head: Raw): Query {
    if (head.type !== 'select') unsupported('statement other than SELECT');
    const chain: Raw[] = [];
    for (
      let n: Raw | undefined = head;
      n;
      n = n._next === undefined || n._next === null ? undefined : raw(n._next, 'set operation')
    ) {
      if (n.type !== 'select') unsupported('set operation operand');
      chain.push(n);
      if (chain.length > 64) unsupported('more than 64 set operations');
    }
    // The normalizer marks the right operand of INTERSECT ALL / EXCEPT ALL; take the marker out.
    const marked = chain.map((n, i) => i > 0 && hasSetAllMarker(n));
    for (let i = 1; i < chain.length; i++) {
      if (marked[i])
        chain[i] = { ...chain[i], columns: list(chain[i]!.columns, 'select list').slice(1) };
    }
    const last = chain[chain.length - 1]!;
    let orderBy: OrderItem[] = [];
    let limit: { limit?: string; offset?: string } = {};
    const headOrder = head._orderby;
    const headLimit = head._limit;
    if (chain.length === 1) {
      if (!isEmpty(headOrder) || !isEmpty(headLimit)) unsupported('LIMIT after OFFSET');
    } else {
      if (!isEmpty(headOrder)) orderBy = this.orderBy(headOrder);
      if (!isEmpty(headLimit)) limit = this.limit(headLimit);
    }
    const operands: QueryBody[] = chain.map((n, i) => {
      const ownModifiers = chain.length === 1 || n.parentheses_symbol === true;
      const select = this.select(n, i === 0);
      const hasOrder = !isEmpty(n.orderby);
      const hasLimit = this.hasLimit(n.limit);
      if (!hasOrder && !hasLimit) return select;
      if (ownModifiers && chain.length > 1) {
        return {
          kind: 'query',
          with: [],
          body: select,
          orderBy: hasOrder ? this.orderBy(n.orderby) : [],
          ...this.limit(n.limit),
        };
      }
      if (n !== last && chain.length > 1) unsupported('ORDER BY or LIMIT inside a set operation');
      if (orderBy.length > 0 || limit.limit !== undefined || limit.offset !== undefined) {
        unsupported('two ORDER BY or LIMIT clauses');
      }
      if (hasOrder) orderBy = this.orderBy(n.orderby);
      if (hasLimit) limit = this.limit(n.limit);
      return select;
    });
    const ops = chain.slice(0, -1).map((n, i) => {
      const op = setOperator(n.set_op);
      if (!marked[i + 1]) return op;
      if (op.op === 'UNION') unsupported('set quantifier');
      return { ...op, all: true };
    });
    const body = buildSetTree(operands, ops);
    const ctes = head.with ? this.withClause(head.with) : [];
    return { kind: 'query', with: ctes, body, orderBy, ...limit };
  }

  private hasLimit(v: unknown): boolean {
    if (v === null || v === undefined) return false;
    const l = raw(v, 'LIMIT');
    return Array.isArray(l.value) && l.value.length > 0;
  }

  private limit(v: unknown): { limit?: string; offset?: string } {
    if (v === null || v === undefined) return {};
    const l = raw(v, 'LIMIT');
    checkKeys(l, 'LIMIT', ['seperator', 'value']);
    const values = list(l.value, 'LIMIT');
    if (values.length === 0) return {};
    const isAll = (x: unknown) =>
      isRaw(x) && x.type === 'origin' && String(x.value).toLowerCase() === 'all';
    if (l.seperator === '' && values.length === 1) {
      return isAll(values[0]) ? {} : { limit: nonNegativeInteger(values[0], 'LIMIT') };
    }
    if (l.seperator === 'offset' && values.length === 1) {
      return { offset: nonNegativeInteger(values[0], 'OFFSET') };
    }
    if (l.seperator === 'offset' && values.length === 2) {
      const offset = nonNegativeInteger(values[1], 'OFFSET');
      return isAll(values[0])
        ? { offset }
        : { limit: nonNegativeInteger(values[0], 'LIMIT'), offset };
    }
    return unsupported('LIMIT');
  }

  private withClause(v: unknown): Cte[] {
    return list(v, 'WITH').map((c) => {
      const cte = raw(c, 'WITH');
      checkKeys(cte, 'WITH', ['name', 'stmt', 'columns']);
      if (cte.recursive) unsupported('WITH RECURSIVE');
      const name = ident(cte.name, 'CTE name');
      const stmt = raw(cte.stmt, 'CTE body');
      // node-sql-parser wraps some bodies as {ast}; accept both shapes.
      const query =
        stmt.type === undefined && 'ast' in stmt ? this.subquery(stmt) : this.statement(stmt);
      const columns = cte.columns
        ? list(cte.columns, 'CTE columns').map((col) => {
            const r = raw(col, 'CTE column');
            if (r.type !== 'column_ref' || r.table !== null) unsupported('CTE column list');
            checkKeys(r, 'CTE column', ['type', 'table', 'column']);
            return ident(raw(r.column, 'CTE column').expr, 'CTE column');
          })
        : undefined;
      return { name, query, ...(columns ? { columns } : {}) };
    });
  }

  private select(n: Raw, isHead: boolean): Select {
    checkKeys(n, 'SELECT', [
      'with',
      'type',
      'distinct',
      'columns',
      'into',
      'from',
      'where',
      'groupby',
      'having',
      'orderby',
      'limit',
      '_next',
      'set_op',
      'parentheses_symbol',
      '_orderby',
      '_limit',
    ]);
    if (!isHead && !isEmpty(n.with)) unsupported('WITH inside a set operation');
    if (n.into !== undefined && n.into !== null) {
      const into = raw(n.into, 'INTO');
      checkKeys(into, 'INTO', []);
    }
    const items = list(n.columns, 'select list').map((c) => this.selectItem(c));
    if (items.length === 0) unsupported('empty select list');
    const from = n.from ? this.fromList(n.from) : [];
    return {
      kind: 'select',
      ...this.distinct(n.distinct),
      items,
      from,
      ...(n.where ? { where: this.expr(n.where, 'WHERE') } : {}),
      ...(n.groupby ? { groupBy: this.groupBy(n.groupby) } : {}),
      ...(n.having ? { having: this.expr(n.having, 'HAVING') } : {}),
    };
  }

  private distinct(v: unknown): { distinct?: { on: Expr[] } } {
    if (v === null || v === undefined) return {};
    const d = raw(v, 'DISTINCT');
    if (d.type === null || d.type === undefined) {
      checkKeys(d, 'DISTINCT', ['type']);
      return {};
    }
    if (d.type === 'DISTINCT') {
      checkKeys(d, 'DISTINCT', ['type']);
      return { distinct: { on: [] } };
    }
    if (d.type === 'DISTINCT ON') {
      checkKeys(d, 'DISTINCT ON', ['type', 'columns']);
      const on = list(d.columns, 'DISTINCT ON').map((c) => {
        const item = raw(c, 'DISTINCT ON');
        checkKeys(item, 'DISTINCT ON', ['type', 'expr']);
        return this.expr(item.expr, 'DISTINCT ON');
      });
      if (on.length === 0) unsupported('DISTINCT ON');
      return { distinct: { on } };
    }
    return unsupported('DISTINCT');
  }

  private selectItem(v: unknown): SelectItem {
    const item = raw(v, 'select item');
    checkKeys(item, 'select item', ['type', 'expr', 'as']);
    if (item.type !== undefined && item.type !== 'expr') unsupported('select item');
    const e = raw(item.expr, 'select item');
    if (e.type === 'column_ref' && e.column === '*') {
      checkKeys(e, 'select *', ['type', 'table', 'column']);
      if (item.as !== null && item.as !== undefined) unsupported('alias on *');
      if (e.table === null || e.table === undefined) return { kind: 'star' };
      return { kind: 'star', table: ident(e.table, 'star qualifier') };
    }
    const expr = this.expr(e, 'select item');
    if (item.as === null || item.as === undefined) return { kind: 'item', expr };
    if (typeof item.as !== 'string') unsupported('select alias');
    return { kind: 'item', expr, alias: checkName(item.as, 'alias') };
  }

  private fromList(v: unknown): FromItem[] {
    const entries: FromItem[] = [];
    for (const x of list(v, 'FROM')) {
      const item = raw(x, 'FROM item');
      const right = this.fromItem(item);
      if (item.join === undefined || item.join === null) {
        if (item.on !== undefined && item.on !== null) unsupported('ON without JOIN');
        if (!isEmpty(item.using)) unsupported('USING without JOIN');
        entries.push(right);
        continue;
      }
      const left = entries.pop();
      if (!left) unsupported('JOIN without a left side');
      entries.push(this.join(item, left, right));
    }
    return entries;
  }

  private join(item: Raw, left: FromItem, right: FromItem): FromItem {
    const types: Readonly<Record<string, JoinType>> = {
      'INNER JOIN': 'INNER',
      JOIN: 'INNER',
      'LEFT JOIN': 'LEFT',
      'LEFT OUTER JOIN': 'LEFT',
      'RIGHT JOIN': 'RIGHT',
      'RIGHT OUTER JOIN': 'RIGHT',
      'FULL JOIN': 'FULL',
      'FULL OUTER JOIN': 'FULL',
      'CROSS JOIN': 'CROSS',
    };
    const key = String(item.join).toUpperCase();
    const type = Object.hasOwn(types, key) ? types[key] : undefined;
    if (!type) return unsupported(`join type ${key}`);
    const hasOn = item.on !== undefined && item.on !== null;
    const hasUsing = !isEmpty(item.using);
    if (type === 'CROSS') {
      if (hasOn || hasUsing) unsupported('CROSS JOIN with a condition');
      return { kind: 'join', type, left, right };
    }
    if (hasOn === hasUsing) unsupported(`${type} JOIN needs exactly one of ON or USING`);
    if (hasOn) return { kind: 'join', type, left, right, on: this.expr(item.on, 'ON') };
    const using = list(item.using, 'USING').map((u) => ident(u, 'USING column'));
    return { kind: 'join', type, left, right, using };
  }

  private fromItem(item: Raw): FromItem {
    if (typeof item.table === 'string') {
      checkKeys(item, 'table reference', ['db', 'table', 'as', 'join', 'on', 'using', 'schema']);
      if (
        (item.db !== null && item.db !== undefined) ||
        (item.schema !== null && item.schema !== undefined)
      ) {
        throw deny.policy('schema- or catalog-qualified table names are not allowed');
      }
      const name = checkName(item.table, 'table name');
      const { alias, columns } = relationAlias(item.as, 'table alias');
      if (columns) unsupported('column alias list on a table');
      return { kind: 'table', name, ...(alias ? { alias } : {}) };
    }
    checkKeys(item, 'FROM item', ['prefix', 'expr', 'as', 'join', 'on', 'using', 'type']);
    const e = raw(item.expr, 'FROM item');
    if (item.type === 'expr' || e.type === 'function') unsupported('table functions');
    if (e.type === 'values') unsupported('VALUES in FROM');
    if (e.type !== undefined || !('ast' in e)) unsupported('FROM item');
    let lateral = false;
    if (item.prefix !== null && item.prefix !== undefined) {
      if (String(item.prefix).toUpperCase() !== 'LATERAL') unsupported('FROM prefix');
      lateral = true;
    }
    const query = this.subquery(e);
    const { alias, columns } = relationAlias(item.as, 'subquery alias');
    return {
      kind: 'derived',
      lateral,
      query,
      ...(alias ? { alias } : {}),
      ...(columns ? { columns } : {}),
    };
  }

  private groupBy(v: unknown): GroupingItem[] {
    const g = raw(v, 'GROUP BY');
    checkKeys(g, 'GROUP BY', ['columns']);
    const items = list(g.columns, 'GROUP BY').map((c): GroupingItem => {
      const n = raw(c, 'GROUP BY item');
      if (n.type === 'function') {
        const name = this.functionName(n);
        const part = raw(list(raw(n.name, 'GROUP BY').name, 'GROUP BY')[0], 'GROUP BY');
        const builtin = part.type === 'default';
        if (builtin && (name === 'rollup' || name === 'cube')) {
          checkKeys(n, name.toUpperCase(), ['type', 'name', 'args']);
          const sets = this.argList(n.args, name).map((a) => this.groupingSet(a, false));
          if (sets.length === 0) unsupported(name.toUpperCase());
          return { kind: name, sets };
        }
        if (name === groupingSetsMarker) {
          checkKeys(n, 'GROUPING SETS', ['type', 'name', 'args']);
          const sets = this.argList(n.args, 'GROUPING SETS').map((a) => this.groupingSet(a, true));
          if (sets.length === 0) unsupported('GROUPING SETS');
          return { kind: 'sets', sets };
        }
      }
      return { kind: 'expr', expr: this.expr(n, 'GROUP BY') };
    });
    if (items.length === 0) unsupported('empty GROUP BY');
    return items;
  }

  /** One element of ROLLUP/CUBE/GROUPING SETS: `a`, `(a)`, `(a, b)` or, in sets, `()`. */
  private groupingSet(v: unknown, allowEmpty: boolean): Expr[] {
    const n = raw(v, 'grouping set');
    if (n.type === 'expr_list') {
      checkKeys(n, 'grouping set', ['type', 'value', 'parentheses']);
      return list(n.value, 'grouping set').map((x) => this.expr(x, 'grouping set'));
    }
    if (n.type === 'function' && this.functionName(n) === emptySetMarker) {
      if (!allowEmpty) unsupported('empty grouping set');
      return [];
    }
    if (n.type === 'function') {
      const name = this.functionName(n);
      if (name === 'rollup' || name === 'cube' || name === groupingSetsMarker) {
        unsupported('nested grouping sets');
      }
    }
    return [this.expr(n, 'grouping set')];
  }
}

/** The normalizer's `sluice$all()` marker as first select item: the operator before is ALL. */
function hasSetAllMarker(n: Raw): boolean {
  const first = Array.isArray(n.columns) ? n.columns[0] : undefined;
  if (!isRaw(first) || first.as !== null || !isRaw(first.expr)) return false;
  const e = first.expr;
  if (
    e.type !== 'function' ||
    !isRaw(e.name) ||
    !Array.isArray(e.name.name) ||
    e.name.name.length !== 1
  ) {
    return false;
  }
  const part = e.name.name[0];
  const args = isRaw(e.args) && Array.isArray(e.args.value) ? e.args.value : undefined;
  return (
    isRaw(part) && part.type === 'default' && part.value === setAllMarker && args?.length === 0
  );
}

function setOperator(v: unknown): { op: 'UNION' | 'INTERSECT' | 'EXCEPT'; all: boolean } {
  switch (typeof v === 'string' ? v.toLowerCase() : '') {
    case 'union':
    case 'union distinct':
      return { op: 'UNION', all: false };
    case 'union all':
      return { op: 'UNION', all: true };
    case 'intersect':
      return { op: 'INTERSECT', all: false };
    case 'except':
      return { op: 'EXCEPT', all: false };
    default:
      return unsupported('set operator');
  }
}

/** Builds the set-operation tree: INTERSECT binds tighter than UNION and EXCEPT; all left-associative. */
function buildSetTree(
  operands: readonly QueryBody[],
  ops: readonly { op: 'UNION' | 'INTERSECT' | 'EXCEPT'; all: boolean }[],
): QueryBody {
  const terms: QueryBody[] = [operands[0]!];
  const termOps: { op: 'UNION' | 'EXCEPT'; all: boolean }[] = [];
  ops.forEach((o, i) => {
    const next = operands[i + 1]!;
    if (o.op === 'INTERSECT') {
      const left = terms.pop()!;
      terms.push({ kind: 'setop', op: 'INTERSECT', all: o.all, left, right: next });
    } else {
      termOps.push({ op: o.op, all: o.all });
      terms.push(next);
    }
  });
  let tree = terms[0]!;
  termOps.forEach((o, i) => {
    tree = { kind: 'setop', op: o.op, all: o.all, left: tree, right: terms[i + 1]! };
  });
  return tree;
}

function parseError(err: unknown): never {
  const loc =
    isRaw(err) && isRaw(err.location) && isRaw(err.location.start) ? err.location.start : undefined;
  const where = loc ? ` at line ${String(loc.line)}, column ${String(loc.column)}` : '';
  throw deny.parse(`syntax error${where}`);
}

function astify(sql: string): Raw {
  let ast: unknown;
  try {
    ast = parser.astify(sql, { database: 'PostgresQL' });
  } catch (err) {
    if (err instanceof RangeError) throw deny.unsupported('unsupported SQL: nested too deeply');
    parseError(err);
  }
  if (Array.isArray(ast)) {
    if (ast.length !== 1) throw deny.unsupported('exactly one SQL statement is allowed');
    ast = ast[0];
  }
  const stmt = raw(ast, 'statement');
  if (stmt.type !== 'select') throw deny.unsupported('only SELECT statements are allowed');
  return stmt;
}

/**
 * Parses a user query into the planner's tree. Throws PARSE_ERROR, UNSUPPORTED_SQL, or
 * POLICY_DENIED for reserved or qualified names.
 */
export function parseQuery(sql: string): Query {
  if (sql.length > maxSqlLength)
    throw deny.unsupported(`queries longer than ${maxSqlLength} characters`);
  const stmt = astify(normalizeSql(sql));
  return freezeTree(convert(() => new Converter().statement(stmt)));
}

/**
 * Runs a conversion; a shape the converter did not anticipate (a TypeError on an odd node, a
 * stack overflow) is a refusal too, never a crash.
 */
function convert<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (isSluiceError(err)) throw err;
    throw deny.unsupported('unsupported SQL');
  }
}

/**
 * Parses a boolean SQL expression (a policy row filter). Throws like parseQuery, and
 * UNSUPPORTED_SQL when the text is more than one expression.
 */
export function parseExpression(sql: string): Expr {
  if (sql.length > maxSqlLength)
    throw deny.unsupported(`expressions longer than ${maxSqlLength} characters`);
  const stmt = astify(`SELECT 1 WHERE ${normalizeSql(sql)}`);
  const query = convert(() => new Converter().statement(stmt));
  const body = query.body;
  if (
    query.with.length > 0 ||
    query.orderBy.length > 0 ||
    query.limit !== undefined ||
    query.offset !== undefined ||
    body.kind !== 'select' ||
    body.from.length > 0 ||
    body.groupBy ||
    body.having ||
    body.distinct ||
    body.items.length !== 1 ||
    !body.where
  ) {
    throw deny.unsupported('expected a single SQL expression');
  }
  return freezeTree(body.where);
}
