/**
 * DuckDB errors to Sluice errors. DuckDB's messages can quote data values, file paths and
 * settings, so none of their text reaches a client or a log: only the error class (the
 * "Conversion Error" prefix, matched against a fixed list) and a fixed explanation survive.
 */

import { type ErrorCode, SluiceError } from '../gateway/errors.ts';

interface ClassRule {
  readonly code: ErrorCode;
  readonly explanation: string;
  /** DuckDB invalidates the instance after these. */
  readonly fatal?: true;
}

/** Known DuckDB exception classes, keyed by their message prefix (lowercase). */
const classRules: Readonly<Record<string, ClassRule>> = {
  'binder error': {
    code: 'QUERY_ERROR',
    explanation: 'a name, type or function does not fit where it is used',
  },
  'catalog error': { code: 'QUERY_ERROR', explanation: 'the query refers to an unknown object' },
  'conversion error': {
    code: 'QUERY_ERROR',
    explanation: 'a value could not be converted to the requested type',
  },
  'out of range error': {
    code: 'QUERY_ERROR',
    explanation: 'a value is out of range for its type',
  },
  'invalid input error': { code: 'QUERY_ERROR', explanation: 'an input to the query is invalid' },
  'parser error': { code: 'QUERY_ERROR', explanation: 'the query could not be parsed' },
  'syntax error': { code: 'QUERY_ERROR', explanation: 'the query could not be parsed' },
  'not implemented error': {
    code: 'QUERY_ERROR',
    explanation: 'the query uses a feature the engine does not support',
  },
  'invalid type error': { code: 'QUERY_ERROR', explanation: 'a value has an unsupported type' },
  'type error': { code: 'QUERY_ERROR', explanation: 'a value has an unsupported type' },
  'mismatch type error': { code: 'QUERY_ERROR', explanation: 'types do not match' },
  'arithmetic error': { code: 'QUERY_ERROR', explanation: 'an arithmetic operation failed' },
  'constraint error': { code: 'QUERY_ERROR', explanation: 'a constraint was violated' },
  'dependency error': { code: 'QUERY_ERROR', explanation: 'an object dependency failed' },
  'transaction error': { code: 'QUERY_ERROR', explanation: 'the transaction failed' },
  'sequence error': { code: 'QUERY_ERROR', explanation: 'a sequence failed' },
  'permission error': {
    code: 'POLICY_DENIED',
    explanation: 'the engine refused an operation that is not permitted',
  },
  'out of memory error': {
    code: 'LIMIT_EXCEEDED',
    explanation: "the query exceeded the engine's memory limit",
  },
  'interrupt error': { code: 'TIMEOUT', explanation: 'the query was interrupted' },
  'io error': { code: 'INTERNAL', explanation: 'the engine could not read or write its files' },
  'internal error': { code: 'INTERNAL', explanation: 'the engine failed internally', fatal: true },
  'fatal error': { code: 'INTERNAL', explanation: 'the engine failed internally', fatal: true },
};

const CLASS_PATTERN = /([A-Za-z][A-Za-z ]{1,40}? Error):/;

/** The DuckDB error class of a message ('Conversion Error'), or null when not recognised. */
export function duckdbErrorClass(message: string): string | null {
  const m = CLASS_PATTERN.exec(message);
  if (!m) return null;
  const name = m[1]!.trim();
  return Object.hasOwn(classRules, name.toLowerCase()) ? name : null;
}

/** True when the instance may be unusable afterwards (DuckDB invalidates it). */
export function isFatalEngineError(err: unknown): boolean {
  const cls = duckdbErrorClass(err instanceof Error ? err.message : '');
  return cls !== null && classRules[cls.toLowerCase()]!.fatal === true;
}

/** Wraps anything thrown by DuckDB; SluiceErrors pass through unchanged. */
export function wrapEngineError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const cls = duckdbErrorClass(err instanceof Error ? err.message : '');
  if (cls === null) return new SluiceError('QUERY_ERROR', 'Error: the query could not be executed');
  const rule = classRules[cls.toLowerCase()]!;
  return new SluiceError(rule.code, `${canonical(cls)}: ${rule.explanation}`);
}

function canonical(cls: string): string {
  return cls
    .toLowerCase()
    .split(' ')
    .map((w) => w.charAt(0).toUpperCase() + w.slice(1))
    .join(' ');
}
