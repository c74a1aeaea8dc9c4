import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { shapedSelect } from '../../policies/shaped-relation.ts';
import { renderSelect } from '../../policies/sql-render.ts';

// The generalize mask is arithmetic on the day of the year or month (faster than date_trunc in
// DuckDB); it must give date_trunc's first day on every date and timestamp.
let instance: DuckDBInstance;
beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`ATTACH ':memory:' AS data; CREATE TABLE data.main.days AS
    SELECT i AS id, DATE '1600-01-01' + i::INTEGER AS d,
      TIMESTAMP '1600-01-01 23:59:59' + to_days(i::INTEGER) AS ts
    FROM range(220000) r(i)`);
  conn.closeSync();
});
afterAll(() => instance.closeSync());

it.each(['year', 'month'] as const)(
  'generalizes to the first day of the %s, as date_trunc does, over 600 years of days',
  async (to) => {
    const conn = await instance.connect();
    const shaped = renderSelect(
      shapedSelect(
        {
          dataset: 'days',
          minGroupSize: 1,
          columns: [
            { name: 'id', type: 'BIGINT', rule: { kind: 'allow' } },
            { name: 'd', type: 'DATE', rule: { kind: 'generalize', to } },
            { name: 'ts', type: 'TIMESTAMP', rule: { kind: 'generalize', to } },
          ],
        },
        undefined,
        '00',
        'data',
        { nullHiddenRows: false },
      ),
    );
    const [[wrong, type]] = (
      await conn.runAndReadAll(`
        SELECT count(*) FILTER (WHERE s.d IS DISTINCT FROM CAST(date_trunc('${to}', t.d) AS DATE)
                                   OR s.ts IS DISTINCT FROM CAST(date_trunc('${to}', t.ts) AS DATE)),
               any_value(typeof(s.ts))
        FROM (${shaped}) s JOIN data.main.days t USING (id)`)
    ).getRowsJson() as [string, string][];
    expect(wrong).toBe('0');
    expect(type).toBe('DATE');
    conn.closeSync();
  },
);
