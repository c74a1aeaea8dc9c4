import type { DatasetEntry, DatasetStatus } from '../datasets/catalog-types.ts';
import type { Role } from './principal.ts';

/**
 * The control plane: users, agreements and the catalog's mutable state. One interface so
 * that a PostgreSQL-backed store can replace the embedded one without touching callers;
 * every method is async for that reason.
 */

export interface UserRecord {
  readonly subject: string;
  readonly name: string;
  readonly role: Role;
  readonly org: string;
  /** restricted: may not run queries or scripts; closed: may not do anything. */
  readonly status: 'active' | 'restricted' | 'closed';
}

export interface AgreementRecord {
  readonly id: string;
  /** The researcher's subject. */
  readonly user: string;
  readonly datasets: readonly string[];
  readonly purpose: string;
  /** The policy document as written (YAML or JSON). */
  readonly policyText: string;
  readonly policyFormat: 'yaml' | 'json';
  readonly policyVersion: number;
  readonly status: 'active' | 'suspended' | 'revoked';
  readonly signedAt: string;
  readonly expiresAt: string;
  /** Hex secret keyed into the hash mask; never leaves the gateway. */
  readonly secret: string;
}

export interface Store {
  getUser(subject: string): Promise<UserRecord | undefined>;
  listAgreements(user: string): Promise<readonly AgreementRecord[]>;
  getAgreement(id: string): Promise<AgreementRecord | undefined>;
  listDatasets(): Promise<readonly DatasetEntry[]>;
  getDataset(id: string): Promise<DatasetEntry | undefined>;
  setDatasetStatus(id: string, status: DatasetStatus): Promise<void>;
  setUserStatus(subject: string, status: UserRecord['status']): Promise<void>;
  close(): Promise<void>;
}

/** The shape of the embedded store's file, also used to seed it. */
export interface ControlState {
  readonly users: UserRecord[];
  readonly agreements: AgreementRecord[];
  readonly datasets: DatasetEntry[];
}
