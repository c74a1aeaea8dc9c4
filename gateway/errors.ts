/**
 * The one registry of Sluice errors. Every error a client can see is a SluiceError with a
 * stable code; the HTTP status comes from this table. Messages name the rule or field that
 * failed and never carry data values, file paths or stack traces.
 */
export const errorStatus = {
  BAD_REQUEST: 400,
  PARSE_ERROR: 400,
  UNSUPPORTED_SQL: 400,
  QUERY_ERROR: 400,
  UNAUTHENTICATED: 401,
  FORBIDDEN: 403,
  NOT_LICENSED: 403,
  POLICY_DENIED: 403,
  ACCESS_RESTRICTED: 403,
  NOT_FOUND: 404,
  TIMEOUT: 408,
  PAYLOAD_TOO_LARGE: 413,
  DATASET_SUSPENDED: 423,
  LIMIT_EXCEEDED: 429,
  INTERNAL: 500,
  ENGINE_UNAVAILABLE: 503,
  RECORD_UNAVAILABLE: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly statusCode: number;

  constructor(code: ErrorCode, message: string, statusCode?: number) {
    super(message);
    this.name = 'SluiceError';
    this.code = code;
    this.statusCode = statusCode ?? errorStatus[code];
  }
}

export function isSluiceError(err: unknown): err is SluiceError {
  return err instanceof SluiceError;
}

/** Helper constructors for the errors the policy layer raises most. */
export const deny = {
  policy: (message: string) => new SluiceError('POLICY_DENIED', message),
  notLicensed: (message: string) => new SluiceError('NOT_LICENSED', message),
  unsupported: (message: string) => new SluiceError('UNSUPPORTED_SQL', message),
  parse: (message: string) => new SluiceError('PARSE_ERROR', message),
};
