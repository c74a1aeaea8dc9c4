/** The open-list entry of a dataset, as the catalog serves it. */
export type OpenType = 'unconditional' | 'conditional' | 'non-open';
export type Sensitivity = 'public' | 'internal' | 'personal' | 'sensitive';
export type DatasetStatus = 'active' | 'suspended' | 'withdrawn';

export interface DataItem {
  readonly name: string;
  /** DuckDB type name, e.g. INTEGER, VARCHAR, DATE, DOUBLE, DECIMAL(15,2). */
  readonly type: string;
  readonly description: string;
  readonly sensitivity: Sensitivity;
}

export interface DatasetEntry {
  readonly id: string;
  readonly title: string;
  readonly domain: string;
  readonly summary: string;
  readonly items: readonly DataItem[];
  readonly format: string;
  readonly openType: OpenType;
  readonly conditions: string;
  readonly updateFrequency: string;
  readonly publisher: string;
  /** Where the data comes from, cited in every answer (attribution). */
  readonly source: string;
  readonly status: DatasetStatus;
  readonly rowCount: number;
  /** Bumped whenever the data changes; part of plan-cache keys. */
  readonly version: number;
}
