import type { DatasetEntry } from '../datasets/catalog-types.ts';
import {
  compileScope,
  loadPolicyDocument,
  type PolicyDocument,
} from '../policies/policy-document.ts';
import type { ColumnRule, RelationGrant, Scope } from '../policies/policy-types.ts';
import { SluiceError } from './errors.ts';
import type { Principal } from './principal.ts';
import type { AgreementRecord, Store } from './store.ts';

/** What one request may read, and under which limits. */
export interface Access {
  readonly scope: Scope;
  readonly agreement: AgreementRecord | null;
  readonly policy: PolicyDocument | null;
  readonly maxRowsPerAnswer: number;
  /** Absent for unconditional-only access. */
  readonly maxRowsPerDay: number | null;
  /**
   * Changes whenever what the scope grants could change: the agreement's policy version and
   * every dataset's version (plan-cache key).
   */
  readonly version: string;
}

type Columns = Map<string, { name: string; type: string }[]>;

const COMPILED_CACHE_SIZE = 1_000;

/**
 * Turns a principal and an optional agreement id into the Scope the planner enforces.
 * Deny by default: only active, unexpired agreements of the asking researcher count, and
 * non-open datasets are never part of any scope.
 */
export class AccessResolver {
  readonly #store: Store;
  readonly #dataCatalog: string;
  readonly #maxRowsUnconditional: number;
  /** Parsed policy documents by agreement id and policy version. */
  readonly #policies = new Map<string, PolicyDocument>();
  /** Compiled access by its version: recompiled only when the policy or catalog changes. */
  readonly #compiled = new Map<string, Access>();

  constructor(store: Store, opts: { dataCatalog: string; maxRowsUnconditional: number }) {
    this.#store = store;
    this.#dataCatalog = opts.dataCatalog;
    this.#maxRowsUnconditional = opts.maxRowsUnconditional;
  }

  async forQuery(principal: Principal, agreementId: string | undefined): Promise<Access> {
    const datasets = await this.#store.listDatasets();
    const agreement = await this.#pickAgreement(principal, agreementId);
    const catalog = datasets.map((d) => `${d.id}:${d.version}:${d.openType}`).join(',');
    const version = agreement
      ? `${agreement.id}@${agreement.policyVersion}:${agreement.datasets.join('+')}|${catalog}`
      : `unconditional|${catalog}`;
    let access = this.#compiled.get(version);
    if (!access) {
      access = this.#compile(datasets, agreement, version);
      if (this.#compiled.size >= COMPILED_CACHE_SIZE) {
        this.#compiled.delete(this.#compiled.keys().next().value!);
      }
      this.#compiled.set(version, access);
    }
    return access;
  }

  /** Compiles the scope of an agreement (or of unconditional data alone) over the catalog. */
  #compile(
    datasets: readonly DatasetEntry[],
    agreement: AgreementRecord | null,
    version: string,
  ): Access {
    const unconditional = columnsOf(datasets.filter((d) => d.openType === 'unconditional'));
    const conditional = datasets.filter((d) => d.openType === 'conditional');
    if (!agreement) {
      return {
        scope: compileScope(null, new Map(), {
          unconditional,
          unlicensed: new Set(conditional.map((d) => d.id)),
          hashSecret: '00',
          dataCatalog: this.#dataCatalog,
        }),
        agreement: null,
        policy: null,
        maxRowsPerAnswer: this.#maxRowsUnconditional,
        maxRowsPerDay: null,
        version,
      };
    }
    const policy = this.#policy(agreement);
    const granted = new Set(agreement.datasets);
    const scope = compileScope(policy, columnsOf(conditional.filter((d) => granted.has(d.id))), {
      unconditional,
      unlicensed: new Set(conditional.filter((d) => !granted.has(d.id)).map((d) => d.id)),
      hashSecret: agreement.secret,
      dataCatalog: this.#dataCatalog,
    });
    return {
      scope,
      agreement,
      policy,
      maxRowsPerAnswer: policy.export.maxRowsPerAnswer,
      maxRowsPerDay: policy.export.maxRowsPerDay,
      version,
    };
  }

  /**
   * The scope of a preview: unconditional data as it is; conditional data under the
   * dataset's default policy, which keeps public and internal items and redacts the rest.
   */
  previewScope(dataset: DatasetEntry): Scope {
    const relation: RelationGrant = {
      dataset: dataset.id,
      minGroupSize: 1,
      columns: dataset.items.map((item) => ({
        name: item.name,
        type: item.type,
        rule: previewRule(dataset, item.sensitivity),
      })),
    };
    return {
      relations: new Map([[dataset.id, relation]]),
      unlicensed: new Set(),
      hashSecret: '00',
      dataCatalog: this.#dataCatalog,
    };
  }

  async #pickAgreement(
    principal: Principal,
    agreementId: string | undefined,
  ): Promise<AgreementRecord | null> {
    const now = Date.now();
    if (agreementId !== undefined) {
      const agreement = await this.#store.getAgreement(agreementId);
      // Another user's agreement is reported exactly like a missing one.
      if (!agreement || agreement.user !== principal.subject) {
        throw new SluiceError('NOT_FOUND', `agreement ${agreementId} does not exist`);
      }
      if (agreement.status !== 'active') {
        throw new SluiceError('NOT_LICENSED', `agreement ${agreementId} is ${agreement.status}`);
      }
      if (Date.parse(agreement.expiresAt) <= now) {
        throw new SluiceError('NOT_LICENSED', `agreement ${agreementId} has expired`);
      }
      return agreement;
    }
    const usable = (await this.#store.listAgreements(principal.subject)).filter(
      (a) => a.status === 'active' && Date.parse(a.expiresAt) > now,
    );
    // With several agreements the researcher must say which one the query runs under.
    return usable.length === 1 ? usable[0]! : null;
  }

  #policy(agreement: AgreementRecord): PolicyDocument {
    const key = `${agreement.id}@${agreement.policyVersion}`;
    let policy = this.#policies.get(key);
    if (!policy) {
      policy = loadPolicyDocument(agreement.policyText, agreement.policyFormat);
      this.#policies.set(key, policy);
    }
    return policy;
  }
}

function columnsOf(datasets: readonly DatasetEntry[]): Columns {
  return new Map(datasets.map((d) => [d.id, d.items.map((i) => ({ name: i.name, type: i.type }))]));
}

function previewRule(dataset: DatasetEntry, sensitivity: string): ColumnRule {
  if (dataset.openType === 'unconditional') return { kind: 'allow' };
  return sensitivity === 'public' || sensitivity === 'internal'
    ? { kind: 'allow' }
    : { kind: 'redact' };
}
