import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DuckDBConnection } from '@duckdb/node-api';
import { sqlString } from './sql-random.ts';

/**
 * The folder of the installed vega-datasets package. Its `exports` map only exposes the entry
 * point, so resolve that and walk up to the package root instead of hard-coding node_modules.
 */
export function vegaDatasetsDir(): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve('vega-datasets'));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
      if (pkg.name === 'vega-datasets') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('vega-datasets package root not found');
    dir = parent;
  }
}

/** The installed vega-datasets version, cited in the catalog's source text. */
export function vegaDatasetsVersion(): string {
  const pkg = JSON.parse(readFileSync(path.join(vegaDatasetsDir(), 'package.json'), 'utf8'));
  return String(pkg.version);
}

/**
 * Loads `flights` from data/flights-3m.parquet: 3,000,000 US domestic flights departing
 * 2001-01-01 to 2001-07-01, cancelled flights excluded. The parquet file already holds the
 * departure as a TIMESTAMP: vega-datasets' flights.py merged the BTS columns FlightDate,
 * CRSDepTime and DepDelay into the actual local departure time. So `date` is kept as-is rather
 * than re-derived; delay (arrival delay, minutes, negative = early) and distance (miles) are
 * narrowed from BIGINT to INTEGER. File order is kept.
 */
export async function loadFlights(conn: DuckDBConnection, table = 'flights'): Promise<void> {
  const file = path.join(vegaDatasetsDir(), 'data', 'flights-3m.parquet');
  await conn.run(`
    CREATE TABLE ${table} AS
    SELECT
      "date"::TIMESTAMP AS "date",
      delay::INTEGER AS delay,
      distance::INTEGER AS distance,
      origin::VARCHAR AS origin,
      destination::VARCHAR AS destination
    FROM read_parquet(${sqlString(file)})
  `);
}

/** Loads `airports` from data/airports.csv (3,376 US airports) with fixed column types. */
export async function loadAirports(conn: DuckDBConnection, table = 'airports'): Promise<void> {
  const file = path.join(vegaDatasetsDir(), 'data', 'airports.csv');
  // Explicit columns: no type sniffing, and codes like 'NA' stay strings, not NULLs.
  await conn.run(`
    CREATE TABLE ${table} AS
    SELECT * FROM read_csv(${sqlString(file)},
      header = true,
      nullstr = '',
      columns = {
        'iata': 'VARCHAR', 'name': 'VARCHAR', 'city': 'VARCHAR', 'state': 'VARCHAR',
        'country': 'VARCHAR', 'latitude': 'DOUBLE', 'longitude': 'DOUBLE'
      })
  `);
}
