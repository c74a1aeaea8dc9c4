import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { SluiceError } from '../gateway/errors.ts';
import { catalogEntries, DEMO_DATASET_IDS } from './catalog-entries.ts';
import type { DatasetEntry } from './catalog-types.ts';
import { generateCitizens } from './citizens.ts';
import { generateHospitalVisits } from './hospital-visits.ts';
import { generateTaxRecords } from './tax-records.ts';
import { checkTpchScale, generateTpch, TPCH_SEED, TPCH_TABLES } from './tpch.ts';
import { loadAirports, loadFlights, vegaDatasetsVersion } from './vega.ts';

/** The dataset file inside the data directory. */
export const DATASETS_FILE = 'datasets.duckdb';

/** Bump when the generators change what they produce: older files are then regenerated. */
export const GENERATOR_VERSION = '4';

/**
 * Rows per row group in the dataset file, instead of DuckDB's 122,880. DuckDB keeps min/max per
 * row group and skips whole groups: smaller groups skip more of a table outside an agreement's
 * row filter or past a top-N bound (so fewer rows are masked only to be thrown away), and a
 * 100,000-row table spreads over several groups, which is also DuckDB's unit of parallel scan.
 */
export const ROW_GROUP_SIZE = 16_384;

/**
 * Opens a dataset file for writing, with `ROW_GROUP_SIZE` applied to every table written; it is
 * the default catalog of the returned connection. Close the connection, then the instance.
 */
export async function openDatasetFile(
  file: string,
): Promise<{ instance: DuckDBInstance; conn: DuckDBConnection }> {
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  try {
    await conn.run(
      `ATTACH '${file.replaceAll("'", "''")}' AS datasets (ROW_GROUP_SIZE ${ROW_GROUP_SIZE})`,
    );
    await conn.run('USE datasets');
  } catch (err) {
    conn.closeSync();
    instance.closeSync();
    throw err;
  }
  return { instance, conn };
}

export const DEMO_CITIZENS = 100_000;
export const DEMO_HOSPITAL_VISITS = 200_000;

export interface DemoData {
  /** Absolute path of the dataset file; open it read-only. */
  readonly dbPath: string;
  /** The open-list entries of every stored dataset, row counts from the stored tables. */
  readonly entries: DatasetEntry[];
}

/** What `sluice_meta` records about a dataset file, and the row counts of its tables. */
export interface StoredDemo {
  readonly generatorVersion: string | undefined;
  readonly vegaVersion: string;
  readonly tpchScale: number | undefined;
  readonly rowCounts: Readonly<Record<string, number>>;
}

const TEMP_PREFIX = `.${DATASETS_FILE}.`;
const TEMP_SUFFIX = '.tmp';

/**
 * Returns the demo datasets in `<dataDir>/datasets.duckdb`, generating the file first if it is
 * missing, was made by another generator version, or lacks TPC-H at `tpchScale` (when given).
 * An existing file that is current is only opened, read-only. Generation writes a temporary file
 * in the same directory and renames it into place, so a crash never leaves half a database.
 * Without `tpchScale`, TPC-H tables already in the file are kept and listed.
 *
 * Throws BAD_REQUEST for a TPC-H scale `checkTpchScale` refuses; INTERNAL if the file exists but
 * was not made by Sluice, or if it cannot be opened or generated.
 */
export async function ensureDemoData(opts: {
  readonly dataDir: string;
  readonly tpchScale?: number;
}): Promise<DemoData> {
  if (opts.tpchScale !== undefined) checkTpchScale(opts.tpchScale);
  const dataDir = path.resolve(opts.dataDir);
  const dbPath = path.join(dataDir, DATASETS_FILE);
  let tpchScale = opts.tpchScale;
  if (existsSync(dbPath)) {
    const stored = await readStored(dbPath);
    const current = stored.generatorVersion === GENERATOR_VERSION;
    if (current && (tpchScale === undefined || stored.tpchScale === tpchScale)) {
      return { dbPath, entries: entriesOf(stored) };
    }
    tpchScale ??= stored.tpchScale; // regenerating for a new generator keeps TPC-H
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await removeStaleTemps(dataDir);
  const tmpPath = path.join(dataDir, `${TEMP_PREFIX}${process.pid}.${randomUUID()}${TEMP_SUFFIX}`);
  try {
    const stored = await generateDemo(tmpPath, tpchScale);
    await rename(tmpPath, dbPath);
    return { dbPath, entries: entriesOf(stored) };
  } catch (err) {
    await rm(tmpPath, { force: true });
    await rm(`${tmpPath}.wal`, { force: true });
    if (err instanceof SluiceError) throw err;
    throw wrap('Generating the demo datasets failed', err);
  }
}

function entriesOf(stored: StoredDemo): DatasetEntry[] {
  return catalogEntries(stored.rowCounts, {
    vegaVersion: stored.vegaVersion,
    ...(stored.tpchScale !== undefined ? { tpchScale: stored.tpchScale } : {}),
  });
}

/**
 * Writes the whole demo into a new DuckDB file at `file`: flights and airports from
 * vega-datasets, the synthetic citizens, hospital visits and tax records, and the TPC-H tables
 * when `tpchScale` is given. Precondition: `file` does not exist.
 */
export async function generateDemo(file: string, tpchScale?: number): Promise<StoredDemo> {
  const { instance, conn } = await openDatasetFile(file);
  try {
    try {
      await loadFlights(conn);
      await loadAirports(conn);
      await generateCitizens(conn, DEMO_CITIZENS);
      await generateHospitalVisits(conn, DEMO_HOSPITAL_VISITS, DEMO_CITIZENS);
      await generateTaxRecords(conn);
      if (tpchScale !== undefined) await generateTpch(conn, tpchScale);
      const meta: Record<string, string> = {
        generator_version: GENERATOR_VERSION,
        duckdb_version: await scalar(conn, 'SELECT version()'),
        vega_datasets_version: vegaDatasetsVersion(),
      };
      if (tpchScale !== undefined) {
        meta.tpch_scale = String(tpchScale);
        meta.tpch_seed = String(TPCH_SEED);
      }
      await conn.run('CREATE TABLE sluice_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)');
      const appender = await conn.createAppender('sluice_meta', 'main', 'datasets');
      for (const [k, v] of Object.entries(meta)) {
        appender.appendVarchar(k);
        appender.appendVarchar(v);
        appender.endRow();
      }
      appender.closeSync();
      const stored = await inspectFile(conn);
      await conn.run('CHECKPOINT datasets'); // everything in the main file, no WAL left to rename
      return stored;
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

async function readStored(dbPath: string): Promise<StoredDemo> {
  let instance: DuckDBInstance;
  try {
    instance = await DuckDBInstance.create(dbPath, { access_mode: 'READ_ONLY' });
  } catch (err) {
    throw wrap(`${DATASETS_FILE} exists but cannot be opened`, err);
  }
  try {
    const conn = await instance.connect();
    try {
      return await inspectFile(conn);
    } finally {
      conn.closeSync();
    }
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    throw wrap(`${DATASETS_FILE} cannot be read`, err);
  } finally {
    instance.closeSync();
  }
}

/** Reads `sluice_meta` and counts the rows of every dataset table present. */
async function inspectFile(conn: DuckDBConnection): Promise<StoredDemo> {
  const tables = new Set(
    (
      await conn.runAndReadAll(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND schema_name = 'main'",
      )
    )
      .getRows()
      .map(([name]) => String(name)),
  );
  if (!tables.has('sluice_meta')) {
    throw new SluiceError(
      'INTERNAL',
      `${DATASETS_FILE} was not made by Sluice (no sluice_meta table); move it away to regenerate`,
    );
  }
  const meta = new Map(
    (await conn.runAndReadAll('SELECT key, value FROM sluice_meta'))
      .getRows()
      .map(([k, v]) => [String(k), String(v)]),
  );
  const rowCounts: Record<string, number> = {};
  for (const id of [...DEMO_DATASET_IDS, ...TPCH_TABLES]) {
    if (tables.has(id))
      rowCounts[id] = Number(await scalar(conn, `SELECT count(*) FROM main.${id}`));
  }
  const scale = meta.get('tpch_scale');
  return {
    generatorVersion: meta.get('generator_version'),
    vegaVersion: meta.get('vega_datasets_version') ?? 'unknown',
    tpchScale: scale === undefined ? undefined : Number(scale),
    rowCounts,
  };
}

async function scalar(conn: DuckDBConnection, sql: string): Promise<string> {
  const rows = (await conn.runAndReadAll(sql)).getRows();
  return String(rows[0]![0]);
}

/** Removes temporary files left by generations whose process no longer runs. */
async function removeStaleTemps(dataDir: string): Promise<void> {
  for (const name of await readdir(dataDir)) {
    if (!name.startsWith(TEMP_PREFIX) || !name.includes(TEMP_SUFFIX)) continue;
    const pid = Number(name.slice(TEMP_PREFIX.length).split('.')[0]);
    if (Number.isInteger(pid) && pid !== process.pid && !isRunning(pid)) {
      await rm(path.join(dataDir, name), { force: true });
    }
  }
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: existence check only
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Our error for a failure in DuckDB or the file system, keeping the original as the cause. */
function wrap(message: string, cause: unknown): SluiceError {
  const err = new SluiceError('INTERNAL', message);
  Object.defineProperty(err, 'cause', { value: cause, enumerable: false });
  return err;
}
