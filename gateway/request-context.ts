import type { FastifyRequest } from 'fastify';
import type { Authenticator } from './auth.ts';
import { type ErrorCode, SluiceError } from './errors.ts';
import type { Principal, Role } from './principal.ts';
import type { Store } from './store.ts';
import type { RequestTrace } from './telemetry.ts';
import { newEntry, type Recorder, type UsageEntry } from './usage.ts';

/** What the gateway tracks about each request. */
export interface RequestState {
  readonly trace: RequestTrace;
  /** Whether the request's outcome goes (or went) into the usage record. */
  recorded: boolean;
  /** The error code it was answered with, if any. */
  errorCode: ErrorCode | null;
}

declare module 'fastify' {
  interface FastifyRequest {
    sluice: RequestState;
  }
}

/** Per-request identifiers the usage record and the trace share. */
export interface RequestIds {
  readonly requestId: string;
  readonly traceId: string;
  readonly spanId: string;
  readonly client: string | null;
  readonly trace: RequestTrace;
  /** Notes that this request's outcome goes into the usage record. */
  markRecorded(): void;
}

/** Whether a request already has (or will have) its usage entry. */
export function isRecorded(req: FastifyRequest): boolean {
  return req.sluice.recorded;
}

export function requestIds(req: FastifyRequest): RequestIds {
  const { trace } = req.sluice;
  return {
    requestId: req.id,
    traceId: trace.traceId,
    spanId: trace.spanId,
    client: req.ip ?? null,
    trace,
    markRecorded: () => {
      req.sluice.recorded = true;
    },
  };
}

/**
 * Authenticates a request and joins the token subject with the platform's user record.
 * Unknown subjects are FORBIDDEN; closed accounts are ACCESS_RESTRICTED.
 */
export async function authenticate(
  req: FastifyRequest,
  auth: Authenticator,
  store: Store,
): Promise<Principal> {
  const token = await req.sluice.trace.span('sluice.authenticate', () =>
    auth.verify(req.headers.authorization),
  );
  const user = await store.getUser(token.subject);
  if (!user) throw new SluiceError('FORBIDDEN', 'this subject is not registered with Sluice');
  if (user.status === 'closed') {
    throw new SluiceError('ACCESS_RESTRICTED', 'access for this user has been closed');
  }
  return {
    subject: user.subject,
    name: user.name,
    role: user.role,
    org: user.org,
    restricted: user.status === 'restricted',
  };
}

export function requireRole(principal: Principal, ...roles: Role[]): void {
  if (!roles.includes(principal.role)) {
    throw new SluiceError('FORBIDDEN', `this action needs the role ${roles.join(' or ')}`);
  }
}

/** Data access (queries, scripts, downloads, previews) is closed to restricted users. */
export function requireDataAccess(principal: Principal): void {
  if (principal.restricted) {
    throw new SluiceError('ACCESS_RESTRICTED', 'data access for this user is restricted');
  }
}

/**
 * Runs `work` and appends its usage entry, allowed or denied, before the caller may answer.
 * If the entry cannot be recorded the request fails with RECORD_UNAVAILABLE and its result
 * is dropped: no answer leaves without a record.
 */
export async function recorded<T>(
  recorder: Recorder,
  action: string,
  ids: RequestIds,
  work: (entry: UsageEntry) => Promise<T>,
): Promise<T> {
  const entry = newEntry(action, ids);
  ids.markRecorded();
  const started = performance.now();
  let result: T;
  try {
    result = await work(entry);
  } catch (err) {
    entry.decision = 'deny';
    entry.errorCode = err instanceof SluiceError ? err.code : 'INTERNAL';
    entry.durationMs = Math.round(performance.now() - started);
    await writeRecord(ids.trace, recorder, entry);
    throw err;
  }
  entry.durationMs = Math.round(performance.now() - started);
  await writeRecord(ids.trace, recorder, entry);
  return result;
}

/** Appends the entry inside its own span, so the trace shows what durability cost. */
export async function writeRecord(
  trace: RequestTrace,
  recorder: Recorder,
  entry: UsageEntry,
): Promise<void> {
  await trace.span('sluice.record_write', async (span) => {
    span.setAttribute('sluice.decision', entry.decision);
    await appendOrFail(recorder, entry);
  });
}

async function appendOrFail(recorder: Recorder, entry: UsageEntry): Promise<void> {
  try {
    await recorder.append(entry);
  } catch {
    throw new SluiceError('RECORD_UNAVAILABLE', 'the usage record cannot be written; try again');
  }
}

/** Fills the principal's fields of an entry once authentication succeeded. */
export function notePrincipal(entry: UsageEntry, principal: Principal): void {
  entry.user = principal.subject;
  entry.org = principal.org;
  entry.role = principal.role;
}
