import { deny } from '../gateway/errors.ts';
import { foldName, reservedPrefix, type Token, tokenize } from './sql-lex.ts';

/**
 * Lexical normalizer: runs before node-sql-parser and rewrites, token by token, the few
 * standard forms that parser cannot read, into equivalent forms it can. It never changes what
 * the query means:
 * - comments become a single space (so the parser never interprets them);
 * - `substring(x FROM a FOR b)` becomes `substring(x, a, b)` (`FROM a` alone: `substring(x, a)`,
 *   `FOR b` alone: `substring(x, 1, b)`);
 * - `GROUPING SETS (...)` becomes the marker call `sluice$grouping_sets(...)` and each empty
 *   grouping set `()` directly inside it becomes `sluice$empty()`; sql-parse.ts turns the
 *   markers back into grouping sets. User text can never contain these markers: the tokenizer
 *   refuses every identifier with the reserved prefix.
 * - `INTERSECT ALL` / `EXCEPT ALL` (which the parser cannot read) lose their ALL, and the right
 *   operand's select list starts with the marker call `sluice$all()`, which sql-parse.ts removes
 *   again, setting ALL on the operator; `INTERSECT DISTINCT` / `EXCEPT DISTINCT` lose DISTINCT.
 * It also enforces one statement: a `;` may only be followed by whitespace and comments.
 */

export const groupingSetsMarker = `${reservedPrefix}grouping_sets`;
export const emptySetMarker = `${reservedPrefix}empty`;
export const setAllMarker = `${reservedPrefix}all`;

function isKeyword(t: Token | undefined, word: string): boolean {
  return t?.type === 'ident' && foldName(t.text) === word;
}

function isPunct(t: Token | undefined, p: string): boolean {
  return t?.type === 'punct' && t.text === p;
}

/** Index of the `)` matching the `(` at `open`, or -1. */
function matchParen(tokens: readonly Token[], open: number, end: number): number {
  let depth = 0;
  for (let i = open; i < end; i++) {
    const t = tokens[i]!;
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function nextSignificant(tokens: readonly Token[], from: number, end: number): number {
  let i = from;
  while (i < end && tokens[i]!.type === 'space') i++;
  return i;
}

function prevSignificant(tokens: readonly Token[], from: number): Token | undefined {
  for (let i = from; i >= 0; i--) if (tokens[i]!.type !== 'space') return tokens[i];
  return undefined;
}

/** Emits tokens[start, end) with the rewrites applied, recursing into call arguments. */
function emit(tokens: readonly Token[], start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const t = tokens[i]!;
    if (isKeyword(t, 'substring') && !isPunct(prevSignificant(tokens, i - 1), '.')) {
      const open = nextSignificant(tokens, i + 1, end);
      if (isPunct(tokens[open], '(')) {
        const close = matchParen(tokens, open, end);
        if (close > 0) {
          const rewritten = rewriteSubstring(tokens, open, close);
          if (rewritten !== undefined) {
            out += rewritten;
            i = close + 1;
            continue;
          }
        }
      }
    }
    if (isKeyword(t, 'intersect') || isKeyword(t, 'except')) {
      const quantifier = nextSignificant(tokens, i + 1, end);
      if (isKeyword(tokens[quantifier], 'distinct')) {
        out += t.text;
        i = quantifier + 1;
        continue;
      }
      if (isKeyword(tokens[quantifier], 'all')) {
        const marked = markOperand(tokens, quantifier + 1, end);
        if (marked) {
          out += `${t.text}${marked.text}`;
          i = marked.next;
          continue;
        }
      }
    }
    if (isKeyword(t, 'grouping')) {
      const sets = nextSignificant(tokens, i + 1, end);
      const open = nextSignificant(tokens, sets + 1, end);
      if (isKeyword(tokens[sets], 'sets') && isPunct(tokens[open], '(')) {
        const close = matchParen(tokens, open, end);
        if (close > 0) {
          out += `${groupingSetsMarker}(${emitGroupingSets(tokens, open + 1, close)})`;
          i = close + 1;
          continue;
        }
      }
    }
    out += t.text;
    i++;
  }
  return out;
}

/**
 * Emits the start of a set operand, `[(...] SELECT [DISTINCT [ON (...)]]`, followed by the
 * ALL marker as first select item; undefined when the operand does not start that way.
 */
function markOperand(
  tokens: readonly Token[],
  start: number,
  end: number,
): { text: string; next: number } | undefined {
  let out = '';
  let i = start;
  for (;;) {
    const j = nextSignificant(tokens, i, end);
    out += emit(tokens, i, j);
    if (!isPunct(tokens[j], '(')) {
      i = j;
      break;
    }
    out += '(';
    i = j + 1;
  }
  if (!isKeyword(tokens[i], 'select')) return undefined;
  out += tokens[i]!.text;
  i++;
  const d = nextSignificant(tokens, i, end);
  if (isKeyword(tokens[d], 'distinct')) {
    out += ` ${tokens[d]!.text}`;
    i = d + 1;
    const on = nextSignificant(tokens, i, end);
    if (isKeyword(tokens[on], 'on')) {
      const open = nextSignificant(tokens, on + 1, end);
      const close = isPunct(tokens[open], '(') ? matchParen(tokens, open, end) : -1;
      if (close < 0) return undefined;
      out += ` ON (${emit(tokens, open + 1, close)})`;
      i = close + 1;
    }
  }
  return { text: `${out} ${setAllMarker}(),`, next: i };
}

/** Splits the argument tokens (open, close) of substring(...) at depth-1 FROM/FOR keywords. */
function rewriteSubstring(
  tokens: readonly Token[],
  open: number,
  close: number,
): string | undefined {
  let depth = 0;
  let from = -1;
  let forAt = -1;
  for (let i = open + 1; i < close; i++) {
    const t = tokens[i]!;
    if (isPunct(t, '(')) depth++;
    else if (isPunct(t, ')')) depth--;
    else if (depth === 0 && isKeyword(t, 'from')) {
      if (from >= 0 || forAt >= 0) return undefined;
      from = i;
    } else if (depth === 0 && isKeyword(t, 'for')) {
      if (forAt >= 0) return undefined;
      forAt = i;
    }
  }
  if (from < 0 && forAt < 0) return undefined;
  const part = (start: number, end: number) => emit(tokens, start, end).trim();
  const value = part(open + 1, from >= 0 ? from : forAt);
  if (from >= 0) {
    const startArg = part(from + 1, forAt >= 0 ? forAt : close);
    const length = forAt >= 0 ? `, ${part(forAt + 1, close)}` : '';
    return `substring(${value}, ${startArg}${length})`;
  }
  return `substring(${value}, 1, ${part(forAt + 1, close)})`;
}

/** Emits the inside of GROUPING SETS (...), marking depth-1 empty sets. */
function emitGroupingSets(tokens: readonly Token[], start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const t = tokens[i]!;
    if (isPunct(t, '(')) {
      const close = matchParen(tokens, i, end);
      if (close < 0) return out + emit(tokens, i, end);
      if (nextSignificant(tokens, i + 1, close) === close) out += `${emptySetMarker}()`;
      else out += `(${emit(tokens, i + 1, close)})`;
      i = close + 1;
      continue;
    }
    out += t.text;
    i++;
  }
  return out;
}

/**
 * Returns SQL that node-sql-parser can read and that means the same as `sql`.
 * Throws PARSE_ERROR (empty input, unterminated literals), UNSUPPORTED_SQL (more than one
 * statement, refused lexical forms) or POLICY_DENIED (reserved identifiers).
 */
export function normalizeSql(sql: string): string {
  const all = tokenize(sql).map(
    (t): Token => (t.type === 'comment' ? { ...t, type: 'space', text: ' ' } : t),
  );
  let end = all.length;
  const semi = all.findIndex((t) => isPunct(t, ';'));
  if (semi >= 0) {
    if (all.slice(semi + 1).some((t) => t.type !== 'space')) {
      throw deny.unsupported('exactly one SQL statement is allowed');
    }
    end = semi;
  }
  if (all.slice(0, end).every((t) => t.type === 'space')) throw deny.parse('empty query');
  return emit(all, 0, end).trim();
}
