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
  readonly rows?: readonly unknown[][];
  readonly arrow?: Uint8Array;
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly attribution: Attribution;
}

const MAX_SQL_LENGTH = 100_000;

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

  get quotas(): QuotaMeter {
    return this.#quotas;
  }

  async query(
    principal: Principal,
    request: { sql: string; agreement?: string; format: 'json' | 'arrow' },
    entry: UsageEntry,
  ): Promise<QueryAnswer> {
    entry.query = request.sql;
    if (request.sql.length > MAX_SQL_LENGTH) {
      throw new SluiceError('PAYLOAD_TOO_LARGE', `SQL longer than ${MAX_SQL_LENGTH} characters`);
    }
    const access = await this.#access.forQuery(principal, request.agreement);
    noteAccess(entry, access);
    const plan = planQuery(request.sql, access.scope);
    return this.#execute(plan, access, request.format, entry);
  }

  /** A few rows of one dataset, shaped by its default preview policy. */
  async preview(dataset: DatasetEntry, entry: UsageEntry, rows = 10): Promise<QueryAnswer> {
    const scope: Scope = this.#access.previewScope(dataset);
    const plan = planQuery(`SELECT * FROM "${dataset.id}" LIMIT ${rows}`, scope);
    const access: Access = {
      scope,
      agreement: null,
      policy: null,
      maxRowsPerAnswer: rows,
      maxRowsPerDay: null,
      version: 'preview',
    };
    return this.#execute(plan, access, 'json', entry);
  }

  async #execute(
    plan: QueryPlan,
    access: Access,
    format: 'json' | 'arrow',
    entry: UsageEntry,
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
      quotaKey = QuotaMeter.key(access.agreement.id, new Date());
      reserved = this.#quotas.reserve(quotaKey, access.maxRowsPerDay, maxRows);
      maxRows = reserved;
    }
    let spent = 0;
    try {
      const result = await this.#engine.query({
        plan,
        maxRows,
        timeoutMs: this.#timeoutMs,
        format,
      });
      spent = result.rowCount;
      entry.rows = result.rowCount;
      entry.bytes = result.bytes;
      entry.truncated = result.truncated;
      entry.answerDigest = sha256Hex(
        result.arrow ?? JSON.stringify({ columns: result.columns, rows: result.rows }),
      );
      return {
        queryId: randomUUID(),
        columns: result.columns,
        ...(result.arrow ? { arrow: result.arrow } : { rows: result.rows ?? [] }),
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
