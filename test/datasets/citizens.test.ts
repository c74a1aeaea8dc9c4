import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCitizens, idCardCheckChar, SHANGHAI_DISTRICTS } from '../../datasets/citizens.ts';
import { generateHospitalVisits } from '../../datasets/hospital-visits.ts';
import { generateTaxRecords } from '../../datasets/tax-records.ts';

const ROWS = 100_000;

let instance: DuckDBInstance;
let conn: DuckDBConnection;

interface Citizen {
  id: number;
  name: string;
  id_card: string;
  phone: string;
  gender: string;
  birth_date: string;
  district: string;
  income: number;
}
let citizens: Citizen[];

async function rows(sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJS() as Record<string, unknown>[];
}

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await generateCitizens(conn, ROWS);
  citizens = (await rows(
    "SELECT id, name, id_card, phone, gender, strftime(birth_date, '%Y%m%d') AS birth_date, district, income FROM citizens ORDER BY id",
  )) as unknown as Citizen[];
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

describe('idCardCheckChar', () => {
  it('matches the ISO 7064 MOD 11-2 vector of the GB 11643 example', () => {
    expect(idCardCheckChar('11010519491231002')).toBe('X');
    expect(idCardCheckChar('44052418800101001')).toBe('4');
  });
});

describe('generateCitizens', () => {
  it('makes ids 1..rows', () => {
    expect(citizens).toHaveLength(ROWS);
    expect(citizens[0]!.id).toBe(1);
    expect(citizens.at(-1)!.id).toBe(ROWS);
  });

  it('stores the documented column types', async () => {
    const cols = await rows(
      "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'citizens' ORDER BY column_index",
    );
    expect(cols.map((c) => `${c.column_name} ${c.data_type}`)).toEqual([
      'id INTEGER',
      'name VARCHAR',
      'id_card VARCHAR',
      'phone VARCHAR',
      'gender VARCHAR',
      'birth_date DATE',
      'district VARCHAR',
      'income DOUBLE',
    ]);
  });

  it('stores rows clustered by district, then id, so a district scope skips row groups', async () => {
    const [order] = await rows(`
      SELECT count(*) FILTER (WHERE prev IS NOT NULL AND (district, id) < prev) AS out_of_order
      FROM (SELECT district, id, lag((district, id)) OVER (ORDER BY rowid) AS prev FROM citizens)`);
    expect(Number(order!.out_of_order)).toBe(0);
  });

  it('gives every citizen a valid, unique 18-character resident ID', () => {
    const areaOf = new Map<string, string>(SHANGHAI_DISTRICTS.map((d) => [d.name, d.areaCode]));
    const bad: string[] = [];
    for (const c of citizens) {
      const id = c.id_card;
      const ok =
        /^[0-9]{17}[0-9X]$/.test(id) &&
        idCardCheckChar(id.slice(0, 17)) === id[17] &&
        id.slice(0, 6) === areaOf.get(c.district) &&
        id.slice(6, 14) === c.birth_date &&
        Number(id.slice(14, 17)) % 2 === (c.gender === 'male' ? 1 : 0) &&
        id.slice(14, 17) !== '000';
      if (!ok) bad.push(`${c.id}: ${id}`);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(new Set(citizens.map((c) => c.id_card)).size).toBe(ROWS);
  });

  it('gives every citizen a unique 11-digit mobile number', () => {
    expect(citizens.filter((c) => !/^1[3-9][0-9]{9}$/.test(c.phone))).toEqual([]);
    expect(new Set(citizens.map((c) => c.phone)).size).toBe(ROWS);
  });

  it('writes names in Han characters: a surname and a 1–2 character given name', () => {
    expect(citizens.filter((c) => !/^\p{Script=Han}{2,4}$/u.test(c.name))).toEqual([]);
    expect(new Set(citizens.map((c) => c.name)).size).toBeGreaterThan(10_000);
  });

  it('uses exactly the 16 districts, unevenly, with thousands in Pudong and Xuhui', async () => {
    const counts = new Map(
      (await rows('SELECT district, count(*)::INTEGER AS n FROM citizens GROUP BY district')).map(
        (r) => [r.district as string, r.n as number],
      ),
    );
    expect([...counts.keys()].sort()).toEqual(SHANGHAI_DISTRICTS.map((d) => d.name).sort());
    expect(counts.get('Pudong')).toBeGreaterThan(20_000);
    expect(counts.get('Xuhui')).toBeGreaterThan(4_000);
    expect(counts.get('Pudong')! / counts.get('Chongming')!).toBeGreaterThan(5);
  });

  it('has both genders and birth dates from 1940 to 2008', async () => {
    const [r] = await rows(
      'SELECT list_sort(list(DISTINCT gender)) AS genders, min(birth_date)::VARCHAR AS lo, max(birth_date)::VARCHAR AS hi, count(DISTINCT year(birth_date))::INTEGER AS years FROM citizens',
    );
    expect(r!.genders).toEqual(['female', 'male']);
    expect(String(r!.lo) >= '1940-01-01').toBe(true);
    expect(String(r!.hi) <= '2008-12-31').toBe(true);
    expect(r!.years).toBe(69);
  });

  it('has positive, right-skewed incomes that differ by district', async () => {
    const [r] = await rows(`SELECT min(income) AS lo, avg(income) AS mean, median(income) AS med,
      median(income) FILTER (WHERE district = 'Xuhui') AS xuhui,
      median(income) FILTER (WHERE district = 'Chongming') AS chongming FROM citizens`);
    expect(r!.lo as number).toBeGreaterThan(0);
    expect(r!.mean as number).toBeGreaterThan(r!.med as number);
    expect(r!.xuhui as number).toBeGreaterThan(1.5 * (r!.chongming as number));
  });

  it('is deterministic: a second generation, single-threaded, is identical', async () => {
    await conn.run('SET threads = 1');
    try {
      await generateCitizens(conn, ROWS, 'citizens_again');
    } finally {
      await conn.run('RESET threads');
    }
    const [r] = await rows(`SELECT
      (SELECT count(*) FROM (SELECT * FROM citizens EXCEPT ALL SELECT * FROM citizens_again))::INTEGER AS a,
      (SELECT count(*) FROM (SELECT * FROM citizens_again EXCEPT ALL SELECT * FROM citizens))::INTEGER AS b`);
    expect(r).toEqual({ a: 0, b: 0 });
  });
});

describe('generateHospitalVisits and generateTaxRecords', () => {
  beforeAll(async () => {
    await generateHospitalVisits(conn, 200_000, ROWS);
    await generateTaxRecords(conn);
  });

  it('makes visits of existing citizens with ICD-10 codes and positive costs', async () => {
    const [r] = await rows(`SELECT count(*)::INTEGER AS n, count(DISTINCT visit_id)::INTEGER AS ids,
      count(*) FILTER (WHERE citizen_id NOT IN (SELECT id FROM citizens))::INTEGER AS orphans,
      count(*) FILTER (WHERE NOT regexp_full_match(diagnosis, '[A-Z][0-9]{2}(\\.[0-9])?'))::INTEGER AS bad_codes,
      min(cost)::DOUBLE AS min_cost, min(visit_date)::VARCHAR AS lo, max(visit_date)::VARCHAR AS hi,
      count(DISTINCT hospital)::INTEGER AS hospitals FROM hospital_visits`);
    expect(r).toMatchObject({ n: 200_000, ids: 200_000, orphans: 0, bad_codes: 0 });
    expect(r!.min_cost as number).toBeGreaterThan(0);
    expect(r!.lo).toBe('2023-01-01');
    expect(r!.hi).toBe('2024-12-31');
    expect(r!.hospitals as number).toBeGreaterThan(20);
  });

  it('taxes working-age citizens by the brackets, one record per citizen and year', async () => {
    const [r] = await rows(`SELECT count(*)::INTEGER AS n,
      count(DISTINCT (citizen_id, tax_year))::INTEGER AS keys,
      count(*) FILTER (WHERE t.tax_year - year(c.birth_date) NOT BETWEEN 22 AND 60)::INTEGER AS bad_age,
      count(*) FILTER (WHERE tax_paid < 0 OR tax_paid > taxable_income * 0.45)::INTEGER AS bad_tax,
      count(*) FILTER (WHERE taxable_income = 36000 AND tax_paid <> 1080)::INTEGER AS bad_first_bracket
      FROM tax_records t JOIN citizens c ON c.id = t.citizen_id`);
    expect(r!.n as number).toBeGreaterThan(80_000);
    expect(r).toMatchObject({ keys: r!.n, bad_age: 0, bad_tax: 0, bad_first_bracket: 0 });
  });
});
