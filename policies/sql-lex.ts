import { deny } from '../gateway/errors.ts';

/**
 * A small SQL tokenizer for the lexical normalizer. It knows exactly the lexical forms DuckDB
 * and node-sql-parser must agree on, and refuses the ones where they may not: backslashes in
 * string literals (node-sql-parser reads `\'` as an escape, DuckDB does not), doubled quotes
 * inside quoted identifiers (node-sql-parser splits `"a""b"`), prefixed strings (E'', B'', X'',
 * N'', U&''), dollar quoting, and NUL characters.
 */

export type TokenType =
  | 'space'
  | 'comment'
  | 'ident'
  | 'quotedIdent'
  | 'string'
  | 'number'
  | 'punct';

export interface Token {
  readonly type: TokenType;
  /** Source text of the token. */
  readonly text: string;
  /** Identifier value (unquoted for quotedIdent); undefined for other types. */
  readonly value?: string;
  readonly start: number;
}

const identStart = /[A-Za-z_\u0080-\uffff]/;
const identPart = /[A-Za-z0-9_$\u0080-\uffff]/;
const numberRe = /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y;
const dollarQuoteRe = /\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/y;
const stringPrefixes = new Set(['e', 'b', 'x', 'n', 'u', 'r']);

/** Reserved for the planner's own relations and markers. */
export const reservedPrefix = 'sluice$';

/**
 * An identifier as it may appear in an error message: plain names as written, anything else
 * (a quoted path or URL used as a table name, say) withheld, since messages never carry file
 * paths or values.
 */
export function shownName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name) ? name : '(quoted name)';
}

/**
 * Case-folds an identifier the way DuckDB compares them: ASCII letters only ("Ä" and "ä" are
 * different names to DuckDB, "A" and "a" are not).
 */
export function foldName(name: string): string {
  return name.replace(/[A-Z]/g, (c) => String.fromCharCode(c.charCodeAt(0) + 32));
}

export function isReservedName(name: string): boolean {
  return foldName(name).startsWith(reservedPrefix);
}

function position(sql: string, offset: number): string {
  const before = sql.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `line ${line}, column ${column}`;
}

/**
 * Splits SQL into tokens. Throws PARSE_ERROR for unterminated literals or comments,
 * UNSUPPORTED_SQL for lexical forms the planner does not accept, POLICY_DENIED for identifiers
 * using the reserved `sluice$` prefix.
 */
export function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    const start = i;
    if (c === '\0') throw deny.unsupported(`NUL character at ${position(sql, i)}`);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      while (i < n && /[ \t\n\r]/.test(sql[i]!)) i++;
      tokens.push({ type: 'space', text: sql.slice(start, i), start });
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n' && sql[i] !== '\r') i++;
      tokens.push({ type: 'comment', text: sql.slice(start, i), start });
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      // Block comments nest, as in DuckDB and PostgreSQL.
      let depth = 0;
      while (i < n) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++;
          i += 2;
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--;
          i += 2;
          if (depth === 0) break;
        } else i++;
      }
      if (depth !== 0) throw deny.parse(`unterminated comment at ${position(sql, start)}`);
      tokens.push({ type: 'comment', text: sql.slice(start, i), start });
      continue;
    }
    if (c === "'") {
      i++;
      let closed = false;
      while (i < n) {
        if (sql[i] === "'") {
          if (sql[i + 1] === "'") {
            i += 2;
            continue;
          }
          i++;
          closed = true;
          break;
        }
        i++;
      }
      if (!closed) throw deny.parse(`unterminated string literal at ${position(sql, start)}`);
      const text = sql.slice(start, i);
      if (text.includes('\\')) {
        throw deny.unsupported(`backslash in string literal at ${position(sql, start)}`);
      }
      const prev = tokens[tokens.length - 1];
      if (prev?.type === 'ident' && stringPrefixes.has(prev.text.toLowerCase())) {
        throw deny.unsupported(`prefixed string literal at ${position(sql, prev.start)}`);
      }
      tokens.push({ type: 'string', text, start });
      continue;
    }
    if (c === '"') {
      const end = sql.indexOf('"', i + 1);
      if (end < 0) throw deny.parse(`unterminated quoted identifier at ${position(sql, start)}`);
      if (sql[end + 1] === '"') {
        throw deny.unsupported(`doubled quote in quoted identifier at ${position(sql, start)}`);
      }
      const value = sql.slice(i + 1, end);
      if (value.length === 0)
        throw deny.parse(`empty quoted identifier at ${position(sql, start)}`);
      if (/[()]/.test(value)) {
        throw deny.unsupported(`parenthesis in quoted identifier at ${position(sql, start)}`);
      }
      if (isReservedName(value)) {
        throw deny.policy(`identifiers starting with ${reservedPrefix} are reserved`);
      }
      i = end + 1;
      tokens.push({ type: 'quotedIdent', text: sql.slice(start, i), value, start });
      continue;
    }
    if (c === '$') {
      dollarQuoteRe.lastIndex = i;
      if (dollarQuoteRe.test(sql)) {
        throw deny.unsupported(`dollar-quoted string at ${position(sql, start)}`);
      }
      i++;
      tokens.push({ type: 'punct', text: c, start });
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      numberRe.lastIndex = i;
      const m = numberRe.exec(sql);
      i = numberRe.lastIndex;
      tokens.push({ type: 'number', text: m![0], start });
      continue;
    }
    if (identStart.test(c)) {
      while (i < n && identPart.test(sql[i]!)) i++;
      const text = sql.slice(start, i);
      if (isReservedName(text)) {
        throw deny.policy(`identifiers starting with ${reservedPrefix} are reserved`);
      }
      tokens.push({ type: 'ident', text, value: text, start });
      continue;
    }
    i++;
    tokens.push({ type: 'punct', text: c, start });
  }
  return tokens;
}
