import type { DuckDBConnection } from '@duckdb/node-api';
import { randInt, randNormal, randUnit, randWeighted } from './sql-random.ts';

/** Shanghai employers (real names, synthetic payrolls), weighted by rough head count. */
const EMPLOYERS: readonly (readonly [string, number])[] = [
  ['Self-employed', 40],
  ['SAIC Motor', 12],
  ['Bank of Communications', 8],
  ['Shanghai Pudong Development Bank', 7],
  ['China Pacific Insurance', 6],
  ['China Eastern Airlines', 6],
  ['Baosteel', 6],
  ['Shanghai Electric', 6],
  ['Bright Food', 5],
  ['Shanghai International Port Group', 5],
  ['Shanghai Pharmaceuticals', 5],
  ['Bailian Group', 5],
  ['Jinjiang International', 4],
  ['Shanghai Metro', 4],
  ['Shanghai Urban Construction', 4],
  ['Greenland Holdings', 4],
  ['Fosun International', 3],
  ['Guotai Junan Securities', 3],
  ['Haitong Securities', 3],
  ['Trip.com Group', 3],
  ['Pinduoduo', 3],
  ['Bilibili', 2],
  ['NIO', 2],
  ['Spring Airlines', 2],
  ['Shanghai Disney Resort', 2],
  ['Tesla Gigafactory Shanghai', 3],
  ['Fudan University', 2],
  ['Shanghai Jiao Tong University', 2],
  ['Tongji University', 2],
  ['East China Normal University', 1],
  ['Shanghai Municipal Government', 4],
];

/** China's annual individual income tax brackets: upper bound, rate, quick deduction. */
const BRACKETS: readonly (readonly [number, number, number])[] = [
  [36_000, 0.03, 0],
  [144_000, 0.1, 2_520],
  [300_000, 0.2, 16_920],
  [420_000, 0.25, 31_920],
  [660_000, 0.3, 52_920],
  [960_000, 0.35, 85_920],
  [Number.POSITIVE_INFINITY, 0.45, 181_920],
];

const TAX_YEARS = [2022, 2023] as const;

const S = { employed: 301, switchJob: 302, employer: 303, noise: 304, deduction: 305 } as const;

/**
 * Creates `table` from the citizens in `citizensTable`: one record per tax year 2022–2023 for
 * most residents aged 22–60 that year. Taxable income follows the citizen's income less the
 * CNY 60,000 standard deduction and special deductions; tax follows the real brackets.
 */
export async function generateTaxRecords(
  conn: DuckDBConnection,
  citizensTable = 'citizens',
  table = 'tax_records',
): Promise<void> {
  const key = 'c.id, y.tax_year';
  // One in ten changes employer in the second year.
  const employerKey = `c.id, CASE WHEN ${randUnit(S.switchJob, 'c.id')} < 0.1 THEN y.tax_year ELSE 0 END`;
  const tax = `CASE ${BRACKETS.filter(([upper]) => Number.isFinite(upper))
    .map(([upper, rate, quick]) => `WHEN taxable <= ${upper} THEN taxable * ${rate} - ${quick}`)
    .join(' ')} ELSE taxable * ${BRACKETS.at(-1)![1]} - ${BRACKETS.at(-1)![2]} END`;
  await conn.run(`
    CREATE TABLE ${table} AS
    WITH base AS (
      SELECT
        c.id AS citizen_id,
        y.tax_year,
        greatest(
          c.income * CASE WHEN y.tax_year = 2022 THEN 0.97 ELSE 1.0 END * exp(0.08 * ${randNormal(S.noise, key)})
            - 60000 - 12000 * ${randInt(S.deduction, key, 0, 3)},
          0)::DECIMAL(12,2) AS taxable,
        ${randWeighted(S.employer, employerKey, EMPLOYERS)}::VARCHAR AS employer
      FROM ${citizensTable} c
      CROSS JOIN (SELECT unnest(${`[${TAX_YEARS.join(', ')}]`})::INTEGER AS tax_year) y
      WHERE y.tax_year - year(c.birth_date) BETWEEN 22 AND 60
        AND ${randUnit(S.employed, key)} < 0.88
    )
    SELECT
      citizen_id,
      tax_year,
      taxable AS taxable_income,
      (${tax})::DECIMAL(12,2) AS tax_paid,
      employer
    FROM base
    ORDER BY citizen_id, tax_year
  `);
}
