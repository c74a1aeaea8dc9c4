import { randomUUID } from 'node:crypto';
import type { DatasetEntry } from '../datasets/catalog-types.ts';
import { planQuery } from '../policies/planner.ts';
import type { QueryPlan, Scope } from '../policies/policy-types.ts';
import type { EnginePool } from '../sandbox/engine-pool.ts';
import type { Access, AccessResolver } from './access.ts';
import { SluiceError } from './errors.ts';
import type { Principal } from './principal.ts';
import { QuotaMeter } from './quota.ts';
import type { Store } from './store.ts';
import type { RequestTrace } from './telemetry.ts';
import { sha256Hex, type UsageEntry } from './usage.ts';

export interface Attribution {
  readonly datasets: readonly {
    readonly id: string;
    readonly title: string;
    readonly publisher: string;
    readonly source: string;
  }[];
  /** One line a user can paste under a figure (users must cite the source). */
  readonly citation: string;
}

export interface QueryAnswer {
  readonly queryId: string;
  readonly columns: readonly { name: string; type: string }[];
  /** The rows as a JSON array text, exactly as the engine encoded them (format json). */
  readonly rowsJson?: string;
  readonly arrow?: Uint8Array;
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly attribution: Attribution;
}

const MAX_SQL_LENGTH = 100_000;
const PLAN_CACHE_SIZE = 2_000;

/**
 * The secure SQL path from an authenticated principal to an answer: access → plan (parse,
 * resolve, check, rewrite, render) → dataset status → quota → engine (second check,
 * execution, row cap). Fills the usage entry as it goes; the caller records it.
 */
export class QueryService {
  readonly #store: Store;
  readonly #access: AccessResolver;
  readonly #engine: EnginePool;
  readonly #quotas: QuotaMeter;
  readonly #timeoutMs: number;
  /** Checked plans by scope version and query text; a Map in insertion order serves as LRU. */
  readonly #plans = new Map<string, QueryPlan>();

  constructor(deps: {
    store: Store;
    access: AccessResolver;
    engine: EnginePool;
    quotas?: QuotaMeter;
    timeoutMs: number;
  }) {
    this.#store = deps.store;
    this.#access = deps.access;
    this.#engine = deps.engine;
    this.#quotas = deps.quotas ?? new QuotaMeter();
    this.#timeoutMs = deps.timeoutMs;
  }

  async query(
    principal: Principal,
    request: { sql: string; agreement?: string; format: 'json' | 'arrow' },
    entry: UsageEntry,
    trace: RequestTrace,
  ): Promise<QueryAnswer> {
    entry.query = request.sql;
    if (request.sql.length > MAX_SQL_LENGTH) {
      throw new SluiceError('PAYLOAD_TOO_LARGE', `SQL longer than ${MAX_SQL_LENGTH} characters`);
    }
    const access = await trace.span('sluice.agreement_lookup', async (span) => {
      const found = await this.#access.forQuery(principal, request.agreement);
      span.setAttribute('sluice.agreement', found.agreement?.id ?? 'none');
      return found;
    });
    noteAccess(entry, access);
    const plan = await this.#plan(
      request.sql,
      access.scope,
      access.maxRowsPerAnswer,
      trace,
      access.version,
    );
    return this.#execute(plan, access, request.format, entry, trace);
  }

  /**
   * Plans inside a span, with the planner's stages as child spans; the SQL returns at most
   * `maxRows + 1` rows. With a `version`, the plan is cached under it and the query text: a
   * repeated query skips parsing and checking, and any change to the agreement's policy (its
   * export limits included) or a dataset changes the key.
   */
  async #plan(
    sql: string,
    scope: Scope,
    maxRows: number,
    trace: RequestTrace,
    version?: string,
  ): Promise<QueryPlan> {
    return trace.span('sluice.plan', (span) => {
      const key = version === undefined ? undefined : `${version}\u0000${sql}`;
      const cached = key === undefined ? undefined : this.#plans.get(key);
      span.setAttribute('sluice.plan_cache', cached ? 'hit' : 'miss');
      if (cached) {
        this.#plans.delete(key!);
        this.#plans.set(key!, cached);
        span.setAttribute('sluice.query_shape', cached.shape.slice(0, 2000));
        return cached;
      }
      const started = Date.now();
      const plan = planQuery(sql, scope, { maxRows });
      const t = plan.timings;
      if (t) {
        trace.addSpan('sluice.parse', started, t.parseMs, {}, span);
        trace.addSpan(
          'sluice.policy_check',
          started + t.parseMs,
          t.checkMs,
          {
            'sluice.datasets': [...plan.datasets],
            'sluice.columns': plan.columns.length,
          },
          span,
        );
        trace.addSpan(
          'sluice.rewrite',
          started + t.parseMs + t.checkMs,
          t.rewriteMs,
          {
            'sluice.masks': plan.masks.map((m) => `${m.dataset}.${m.column}:${m.mask}`),
            'sluice.row_filters': plan.rowFilters.length,
          },
          span,
        );
      }
      span.setAttribute('sluice.query_shape', plan.shape.slice(0, 2000));
      if (key !== undefined) {
        if (this.#plans.size >= PLAN_CACHE_SIZE)
          this.#plans.delete(this.#plans.keys().next().value!);
        this.#plans.set(key, plan);
      }
      return plan;
    });
  }

  /** A few rows of one dataset, shaped by its default preview policy. */
  async preview(
    dataset: DatasetEntry,
    entry: UsageEntry,
    trace: RequestTrace,
    rows = 10,
  ): Promise<QueryAnswer> {
    const scope: Scope = this.#access.previewScope(dataset);
    const plan = await this.#plan(
      `SELECT * FROM "${dataset.id}" LIMIT ${rows}`,
      scope,
      rows,
      trace,
    );
    const access: Access = {
      scope,
      agreement: null,
      policy: null,
      maxRowsPerAnswer: rows,
      maxRowsPerDay: null,
      version: 'preview',
    };
    return this.#execute(plan, access, 'json', entry, trace);
  }

  async #execute(
    plan: QueryPlan,
    access: Access,
    format: 'json' | 'arrow',
    entry: UsageEntry,
    trace: RequestTrace,
  ): Promise<QueryAnswer> {
    entry.datasets = [...plan.datasets];
    entry.columns = plan.columns.map((c) => ({ ...c }));
    entry.masks = plan.masks.map((m) => ({ ...m }));
    entry.rowFilters = plan.rowFilters.map((f) => ({ ...f }));
    entry.sqlHash = sha256Hex(plan.sql);
    const datasets = await this.#datasetsOf(plan);

    let maxRows = access.maxRowsPerAnswer;
    let quotaKey: string | null = null;
    let reserved = 0;
    if (access.agreement && access.maxRowsPerDay !== null) {
      const limit = access.maxRowsPerDay;
      const key = QuotaMeter.key(access.agreement.id, new Date());
      reserved = await trace.span('sluice.export_limits', (span) => {
        const granted = this.#quotas.reserve(key, limit, maxRows);
        span.setAttribute('sluice.rows_reserved', granted);
        return granted;
      });
      quotaKey = key;
      maxRows = reserved;
    }
    let spent = 0;
    try {
      const result = await trace.span('sluice.engine', async (span) => {
        const started = Date.now();
        const answer = await this.#engine.query({
          plan,
          maxRows,
          timeoutMs: this.#timeoutMs,
          format,
          traceparent: trace.traceparent(span),
        });
        // The worker measures its own stages; they become child spans of this one.
        const w = answer.timings;
        trace.addSpan('sluice.queue', started, w.queueMs, {}, span);
        trace.addSpan('sluice.second_check', started + w.queueMs, w.secondCheckMs, {}, span);
        trace.addSpan(
          'sluice.execute',
          started + w.queueMs + w.secondCheckMs,
          w.executeMs,
          {
            'sluice.rows_read': w.rowsRead,
            'sluice.result_read': w.resultRead,
          },
          span,
        );
        span.setAttribute('sluice.rows', answer.rowCount);
        span.setAttribute('sluice.truncated', answer.truncated);
        return answer;
      });
      spent = result.rowCount;
      entry.rows = result.rowCount;
      entry.bytes = result.bytes;
      entry.truncated = result.truncated;
      entry.answerDigest = sha256Hex(
        result.arrow ?? `${JSON.stringify(result.columns)}\n${result.rowsJson}`,
      );
      return {
        queryId: randomUUID(),
        columns: result.columns,
        ...(result.arrow ? { arrow: result.arrow } : { rowsJson: result.rowsJson }),
        rowCount: result.rowCount,
        truncated: result.truncated,
        attribution: attribution(datasets),
      };
    } finally {
      if (quotaKey && access.agreement && access.maxRowsPerDay !== null) {
        this.#quotas.settle(quotaKey, reserved, spent);
        entry.quota = {
          agreement: access.agreement.id,
          day: quotaKey.slice(-10),
          used: this.#quotas.used(quotaKey),
          limit: access.maxRowsPerDay,
        };
      }
    }
  }

  /** The catalog entries a plan reads; a suspended or withdrawn dataset stops it here. */
  async #datasetsOf(plan: QueryPlan): Promise<DatasetEntry[]> {
    const entries: DatasetEntry[] = [];
    for (const id of plan.datasets) {
      const dataset = await this.#store.getDataset(id);
      if (!dataset) throw new SluiceError('NOT_FOUND', `dataset ${id} does not exist`);
      if (dataset.status !== 'active') {
        throw new SluiceError('DATASET_SUSPENDED', `dataset ${id} is ${dataset.status}`);
      }
      entries.push(dataset);
    }
    return entries;
  }
}

function noteAccess(entry: UsageEntry, access: Access): void {
  entry.agreement = access.agreement?.id ?? null;
  entry.agreementVersion = access.agreement?.policyVersion ?? null;
  entry.policyVersion = access.policy?.version ?? null;
}

export function attribution(datasets: readonly DatasetEntry[]): Attribution {
  return {
    datasets: datasets.map((d) => ({
      id: d.id,
      title: d.title,
      publisher: d.publisher,
      source: d.source,
    })),
    citation: datasets.map((d) => `${d.title}. ${d.publisher}. ${d.source}`).join(' '),
  };
}
