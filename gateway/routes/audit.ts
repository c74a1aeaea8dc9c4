import type { FastifyInstance, FastifyRequest } from 'fastify';
import { SluiceError } from '../errors.ts';
import type { LedgerRecord } from '../ledger/record.ts';
import { INDEXED_FIELDS, type LedgerFilter } from '../ledger/store.ts';
import type { Principal } from '../principal.ts';
import {
  authenticate,
  notePrincipal,
  recorded,
  requestIds,
  requireRole,
} from '../request-context.ts';
import type { Services } from '../services.ts';
import { spanTree } from '../trace-store.ts';

// The record's indexed fields, and a time range.
const FILTERS = [...INDEXED_FIELDS, 'from', 'to'] as const;
type FilterQuery = Partial<Record<(typeof FILTERS)[number] | 'cursor' | 'limit', string>>;

const filterSchema = {
  type: 'object',
  properties: Object.fromEntries(
    [...FILTERS, 'cursor'].map((k) => [k, { type: 'string', minLength: 1, maxLength: 200 }]),
  ),
  additionalProperties: false,
} as const;

const recordsQuerySchema = {
  ...filterSchema,
  properties: {
    ...filterSchema.properties,
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,5}$' },
  },
} as const;

/** Fields of a record as listed; the full record comes from /v1/audit/records/:seq. */
export const CSV_COLUMNS = [
  'seq',
  'at',
  'user',
  'org',
  'role',
  'action',
  'decision',
  'errorCode',
  'agreement',
  'datasets',
  'rows',
  'bytes',
  'truncated',
  'durationMs',
  'traceId',
  'sqlHash',
  'answerDigest',
  'query',
] as const;

/**
 * Regulator review of the usage record (articles 19, 20 and 41). Regulators see everything;
 * researchers see their own records; agencies see the records of the datasets they publish.
 */
export async function auditRoutes(
  app: FastifyInstance,
  opts: { services: Services },
): Promise<void> {
  const { store, auth, recorder, ledger, traces } = opts.services;

  /** The filter a principal may search with: the request's own, narrowed to what they may see. */
  async function allowedFilters(principal: Principal, q: FilterQuery): Promise<LedgerFilter[]> {
    const base: LedgerFilter = Object.fromEntries(
      FILTERS.filter((k) => q[k] !== undefined).map((k) => [k, q[k]]),
    );
    if (principal.role === 'regulator') return [base];
    if (principal.role === 'researcher') {
      if (base.user !== undefined && base.user !== principal.subject) return [];
      return [{ ...base, user: principal.subject }];
    }
    const own = (await store.listDatasets())
      .filter((d) => d.publisher === principal.org)
      .map((d) => d.id);
    const datasets = base.dataset === undefined ? own : own.filter((d) => d === base.dataset);
    return datasets.map((dataset) => ({ ...base, dataset }));
  }

  /** Newest first across several filters (an agency's datasets), merged by seq. */
  async function search(filters: LedgerFilter[], cursor: string | undefined, limit: number) {
    const pages = await Promise.all(filters.map((f) => ledger.query(f, cursor, limit)));
    const bySeq = new Map<number, LedgerRecord>();
    for (const page of pages) for (const r of page.records) bySeq.set(r.seq, r);
    const merged = [...bySeq.values()].sort((a, b) => b.seq - a.seq);
    const more = merged.length > limit || pages.some((p) => p.next !== null);
    const records = merged.slice(0, limit);
    const next = more && records.length > 0 ? String(records[records.length - 1]!.seq) : null;
    return { records, next };
  }

  async function reviewer(req: FastifyRequest, entry: Parameters<typeof notePrincipal>[0]) {
    const principal = await authenticate(req, auth, store);
    notePrincipal(entry, principal);
    return principal;
  }

  app.get<{ Querystring: FilterQuery }>(
    '/v1/audit/records',
    { schema: { querystring: recordsQuerySchema } },
    async (req) =>
      recorded(recorder, 'audit.records', requestIds(req), async (entry) => {
        const principal = await reviewer(req, entry);
        const limit = Number(req.query.limit ?? 100);
        if (limit > 1000) throw new SluiceError('BAD_REQUEST', 'limit must be at most 1000');
        const filters = await allowedFilters(principal, req.query);
        const { records, next } = await search(filters, req.query.cursor, limit);
        entry.rows = records.length;
        return { records: records.map(listed), next };
      }),
  );

  app.get<{ Querystring: FilterQuery }>(
    '/v1/audit/records.csv',
    { schema: { querystring: recordsQuerySchema } },
    async (req, reply) => {
      const csv = await recorded(recorder, 'audit.export', requestIds(req), async (entry) => {
        const principal = await reviewer(req, entry);
        const filters = await allowedFilters(principal, req.query);
        const lines = [CSV_COLUMNS.join(',')];
        let cursor = req.query.cursor;
        const cap = Number(req.query.limit ?? 100_000);
        let count = 0;
        do {
          const page = await search(filters, cursor, Math.min(1000, cap - count));
          for (const r of page.records) lines.push(csvLine(listed(r)));
          count += page.records.length;
          cursor = page.next ?? undefined;
        } while (cursor !== undefined && count < cap);
        entry.rows = count;
        return `${lines.join('\n')}\n`;
      });
      return reply
        .header('content-type', 'text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="usage-record.csv"')
        .send(csv);
    },
  );

  app.get<{ Params: { seq: string } }>('/v1/audit/records/:seq', async (req) =>
    recorded(recorder, 'audit.record', requestIds(req), async (entry) => {
      const principal = await reviewer(req, entry);
      if (!/^(0|[1-9]\d{0,15})$/.test(req.params.seq)) {
        throw new SluiceError('BAD_REQUEST', 'seq must be a non-negative integer');
      }
      const seq = Number(req.params.seq);
      if (seq >= ledger.size) throw new SluiceError('NOT_FOUND', `record ${seq} does not exist`);
      const record = await ledger.get(seq);
      if (!(await maySee(principal, record))) {
        throw new SluiceError('NOT_FOUND', `record ${seq} does not exist`);
      }
      const spans = typeof record.traceId === 'string' ? await traces.get(record.traceId) : null;
      return {
        ...record,
        trace: spans ? spanTree(spans) : null,
        proof: ledger.inclusionProof(seq),
      };
    }),
  );

  async function maySee(principal: Principal, record: LedgerRecord): Promise<boolean> {
    if (principal.role === 'regulator') return true;
    if (principal.role === 'researcher') return record.user === principal.subject;
    const datasets = Array.isArray(record.datasets) ? (record.datasets as string[]) : [];
    for (const id of datasets) {
      if ((await store.getDataset(id))?.publisher === principal.org) return true;
    }
    return false;
  }

  app.get<{ Querystring: FilterQuery & { by?: string } }>(
    '/v1/audit/stats',
    {
      schema: {
        querystring: {
          ...filterSchema,
          properties: {
            ...filterSchema.properties,
            by: {
              type: 'string',
              enum: ['dataset', 'user', 'decision', 'day', 'action', 'errorCode'],
            },
          },
        },
      },
    },
    async (req) =>
      recorded(recorder, 'audit.stats', requestIds(req), async (entry) => {
        const principal = await reviewer(req, entry);
        const filters = await allowedFilters(principal, req.query);
        const by = (req.query.by ?? 'dataset') as keyof typeof keyOf;
        const groups = new Map<string, { requests: number; denied: number; rows: number }>();
        let cursor: string | undefined;
        do {
          const page = await search(filters, cursor, 1000);
          for (const r of page.records) {
            for (const key of keyOf[by](r)) {
              const g = groups.get(key) ?? { requests: 0, denied: 0, rows: 0 };
              g.requests += 1;
              if (r.decision === 'deny') g.denied += 1;
              g.rows += typeof r.rows === 'number' ? r.rows : 0;
              groups.set(key, g);
            }
          }
          cursor = page.next ?? undefined;
        } while (cursor !== undefined);
        return {
          by,
          groups: [...groups.entries()]
            .map(([key, g]) => ({ key, ...g }))
            .sort((a, b) => b.requests - a.requests || a.key.localeCompare(b.key)),
        };
      }),
  );

  app.get('/v1/audit/verify', async (req) => {
    const principal = await authenticate(req, auth, store);
    requireRole(principal, 'regulator');
    const result = await ledger.verify();
    return result.ok
      ? { ok: true, size: result.size, root: result.root }
      : { ok: false, size: ledger.size, problem: result.problem };
  });

  app.get('/v1/audit/checkpoint', async () => {
    const checkpoint = ledger.latestCheckpoint ?? (await ledger.checkpoint());
    return { ...checkpoint, publicKey: ledger.publicJwk };
  });

  // A regulator may ask for a fresh checkpoint at any time, e.g. before an inspection.
  app.post('/v1/audit/checkpoint', async (req) => {
    const principal = await authenticate(req, auth, store);
    requireRole(principal, 'regulator');
    return { ...(await ledger.checkpoint()), publicKey: ledger.publicJwk };
  });

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/audit/proofs/consistency',
    {
      schema: {
        querystring: {
          type: 'object',
          required: ['from'],
          properties: {
            from: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' },
            to: { type: 'string', pattern: '^[1-9][0-9]{0,15}$' },
          },
          additionalProperties: false,
        },
      },
    },
    async (req) =>
      ledger.consistencyProof(Number(req.query.from), Number(req.query.to ?? ledger.size)),
  );
}

const keyOf = {
  dataset: (r: LedgerRecord) =>
    Array.isArray(r.datasets) && r.datasets.length > 0 ? (r.datasets as string[]) : ['(none)'],
  user: (r: LedgerRecord) => [String(r.user ?? '(anonymous)')],
  decision: (r: LedgerRecord) => [String(r.decision)],
  day: (r: LedgerRecord) => [r.at.slice(0, 10)],
  action: (r: LedgerRecord) => [String(r.action)],
  errorCode: (r: LedgerRecord) => [String(r.errorCode ?? '(none)')],
};

/** A record as listed: everything but the bulky per-column detail. */
function listed(r: LedgerRecord): Record<string, unknown> {
  const { columns: _c, masks: _m, rowFilters: _f, ...rest } = r as Record<string, unknown>;
  return rest;
}

function csvLine(r: Record<string, unknown>): string {
  return CSV_COLUMNS.map((k) => csvField(r[k])).join(',');
}

function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const text = Array.isArray(value) ? value.join(';') : String(value);
  // Quote always when needed; neutralise spreadsheet formulas.
  const safe = /^[=+\-@]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replaceAll('"', '""')}"` : safe;
}
