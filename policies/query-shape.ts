import { renderQuery } from './sql-render.ts';
import type { Query } from './sql-tree.ts';

/**
 * The telemetry shape of a query: the user's checked tree rendered with every literal (numbers,
 * strings, booleans, NULL, dates, intervals, LIMIT/OFFSET and frame offsets) replaced by `?`,
 * so queries that differ only in values share a shape and no user value reaches telemetry.
 */
export function queryShape(q: Query): string {
  return renderQuery(q, { hideLiterals: true });
}
