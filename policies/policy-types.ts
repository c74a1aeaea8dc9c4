/**
 * What an agreement grants, in the form the SQL planner consumes. The policy document
 * (YAML/JSON, see policy-document.ts) compiles to a Scope for one request.
 */

export type ColumnRule =
  | { readonly kind: 'allow' }
  | { readonly kind: 'deny' }
  | { readonly kind: 'redact' }
  | { readonly kind: 'hash' }
  | { readonly kind: 'generalize'; readonly to: 'year' | 'month' }
  | { readonly kind: 'partial'; readonly keepLast: number }
  | { readonly kind: 'bucket'; readonly width: number }
  | { readonly kind: 'aggregateOnly' };

export interface GrantedColumn {
  readonly name: string;
  /** DuckDB type of the stored column. */
  readonly type: string;
  readonly rule: ColumnRule;
}

/** One dataset as a principal may read it. Columns not listed are denied. */
export interface RelationGrant {
  /** Dataset id; also the stored table name. Lowercase. */
  readonly dataset: string;
  readonly columns: readonly GrantedColumn[];
  /** A SQL boolean expression over the stored columns, applied before any user predicate. */
  readonly rowFilter?: string;
  /** Groups that aggregate an aggregate-only column must have at least this many rows. */
  readonly minGroupSize: number;
}

/** Everything the planner needs to shape one request. */
export interface Scope {
  /** Granted relations keyed by lowercase dataset id. */
  readonly relations: ReadonlyMap<string, RelationGrant>;
  /**
   * Datasets that exist and that the principal could apply for, but holds no grant on:
   * a reference is NOT_LICENSED. Anything neither here nor granted is unknown
   * (non-open data is never named to a researcher).
   */
  readonly unlicensed: ReadonlySet<string>;
  /** Per-agreement secret (hex) keyed into the HMAC-SHA-256 `hash` mask. */
  readonly hashSecret: string;
  /** Catalog name under which the engine attaches the stored datasets. */
  readonly dataCatalog: string;
}

export interface ColumnUse {
  readonly dataset: string;
  readonly column: string;
  /** projected: its value (possibly masked) can reach the answer; filtered: only predicates. */
  readonly usage: 'projected' | 'filtered';
}

/** The gateway's own rendering of a checked query, ready for the second check and the engine. */
export interface QueryPlan {
  /** Final SQL: policy-shaped relations as CTEs, then the user's query over them. */
  readonly sql: string;
  /** Each policy-shaped relation: its CTE name and the SELECT that defines it. */
  readonly shaped: readonly {
    readonly name: string;
    readonly dataset: string;
    readonly sql: string;
  }[];
  readonly datasets: readonly string[];
  readonly columns: readonly ColumnUse[];
  readonly masks: readonly {
    readonly dataset: string;
    readonly column: string;
    readonly mask: string;
  }[];
  readonly rowFilters: readonly { readonly dataset: string; readonly filter: string }[];
  /** The most rows `sql` can return (its outer LIMIT), when that is known. */
  readonly rowBound?: number;
  /** Query text with literals replaced by `?`, safe for telemetry. */
  readonly shape: string;
  /** How long each planner stage took (for tracing). */
  readonly timings?: {
    readonly parseMs: number;
    readonly checkMs: number;
    readonly rewriteMs: number;
  };
}
