/**
 * The demo policy queries on `citizens`, each valid under Alice's agreement
 * (policies/demo/agr-alice-citizens.yaml), with the hand-written PostgreSQL equivalent over the
 * peer's security-barrier view. The PostgreSQL text states what Sluice adds by rewriting: the
 * row filter (there: RLS), the masks (there: the view) and `HAVING count(*) >= 10` on blocks
 * that aggregate the aggregate-only `income`.
 */
export interface CitizenQuery {
  readonly id: string;
  readonly title: string;
  /** What Alice sends to POST /v1/query. */
  readonly sluice: string;
  /** The same question against `citizens_alice` in PostgreSQL, as a non-owner role. */
  readonly postgres: string;
  /** An integer output column both sides must agree on, row for row (same rows, same work). */
  readonly check: 'people' | 'id';
}

export const CITIZEN_QUERIES: readonly CitizenQuery[] = [
  {
    id: 'income-by-district',
    title: 'count, avg and sum of income by district',
    sluice:
      'SELECT district, count(*) AS people, avg(income) AS mean_income, sum(income) AS total_income FROM citizens GROUP BY district ORDER BY district',
    postgres:
      'SELECT district, count(*) AS people, avg(income) AS mean_income, sum(income) AS total_income FROM citizens_alice GROUP BY district HAVING count(*) >= 10 ORDER BY district',
    check: 'people',
  },
  {
    id: 'income-by-gender',
    title: 'count and avg income by gender',
    sluice:
      'SELECT gender, count(*) AS people, avg(income) AS mean_income FROM citizens GROUP BY gender ORDER BY gender',
    postgres:
      'SELECT gender, count(*) AS people, avg(income) AS mean_income FROM citizens_alice GROUP BY gender HAVING count(*) >= 10 ORDER BY gender',
    check: 'people',
  },
  {
    id: 'income-by-birth-year',
    title: 'avg income by birth year (generalized birth_date)',
    sluice:
      'SELECT year(birth_date) AS birth_year, count(*) AS people, avg(income) AS mean_income FROM citizens GROUP BY year(birth_date) ORDER BY birth_year',
    postgres:
      'SELECT extract(year FROM birth_date)::int AS birth_year, count(*) AS people, avg(income) AS mean_income FROM citizens_alice GROUP BY 1 HAVING count(*) >= 10 ORDER BY 1',
    check: 'people',
  },
  {
    id: 'count-female',
    title: 'count with a filter on gender',
    sluice: "SELECT count(*) AS people FROM citizens WHERE gender = 'female'",
    postgres: "SELECT count(*) AS people FROM citizens_alice WHERE gender = 'female'",
    check: 'people',
  },
  {
    id: 'spread-by-district-gender',
    title: 'stddev and variance of income by district and gender',
    sluice:
      'SELECT district, gender, count(*) AS people, stddev(income) AS sd_income, variance(income) AS var_income FROM citizens GROUP BY district, gender ORDER BY district, gender',
    postgres:
      'SELECT district, gender, count(*) AS people, stddev(income) AS sd_income, variance(income) AS var_income FROM citizens_alice GROUP BY district, gender HAVING count(*) >= 10 ORDER BY district, gender',
    check: 'people',
  },
  {
    id: 'young-income-by-district',
    title: 'avg income by district, born 1980 or later (filter on a generalized column)',
    sluice:
      "SELECT district, count(*) AS people, avg(income) AS mean_income FROM citizens WHERE birth_date >= DATE '1980-01-01' GROUP BY district ORDER BY district",
    postgres:
      "SELECT district, count(*) AS people, avg(income) AS mean_income FROM citizens_alice WHERE birth_date >= DATE '1980-01-01' GROUP BY district HAVING count(*) >= 10 ORDER BY district",
    check: 'people',
  },
  {
    id: 'masked-listing',
    title: 'masked row listing (name redacted, id_card hashed, birth year), LIMIT 100',
    sluice:
      'SELECT id, name, id_card, gender, birth_date, district FROM citizens ORDER BY id LIMIT 100',
    postgres:
      'SELECT id, name, id_card, gender, birth_date, district FROM citizens_alice ORDER BY id LIMIT 100',
    check: 'id',
  },
];

/** Small answers for the load test: aggregates of two groups at most, no big scans of text. */
export const LOAD_QUERIES: readonly string[] = [
  CITIZEN_QUERIES[0]!.sluice,
  CITIZEN_QUERIES[1]!.sluice,
  CITIZEN_QUERIES[3]!.sluice,
];
