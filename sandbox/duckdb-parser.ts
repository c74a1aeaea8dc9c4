import type { DuckDBConnection } from '@duckdb/node-api';
import { SluiceError } from '../gateway/errors.ts';
import type { Serialize } from './second-check.ts';

/**
 * DuckDB's parser as the second check uses it in an engine worker: one prepared
 * `json_serialize_sql` statement, and parses kept by text, oldest dropped beyond `limit` (the
 * shaped relations of a scope repeat in every query of that scope). A `limit` of 0 keeps none.
 */
export async function duckdbParser(conn: DuckDBConnection, limit = 512): Promise<Serialize> {
  const statement = await conn.prepare('SELECT json_serialize_sql($1::VARCHAR)');
  const parses = new Map<string, string>();
  return async (sql) => {
    const cached = parses.get(sql);
    if (cached !== undefined) return cached;
    statement.bindVarchar(1, sql);
    // One row, materialized: read with the synchronous chunk accessor instead of the reader's
    // async fetches (each a trip through the thread pool).
    const result = await statement.run();
    const value = result.chunkCount > 0 ? result.getChunk(0).getColumnValues(0)[0] : undefined;
    if (typeof value !== 'string') throw new SluiceError('POLICY_DENIED', 'second check failed');
    if (limit > 0) {
      if (parses.size >= limit) parses.delete(parses.keys().next().value!);
      parses.set(sql, value);
    }
    return value;
  };
}
