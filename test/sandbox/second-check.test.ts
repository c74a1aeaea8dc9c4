import { readFileSync } from 'node:fs';
import { type DuckDBConnection, DuckDBInstance, VARCHAR } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSluiceError } from '../../gateway/errors.ts';
import { secondCheck } from '../../sandbox/second-check.ts';

interface Vector {
  readonly desc: string;
  readonly sql: string;
  readonly with?: readonly string[];
  readonly plan?: Readonly<Record<string, string>>;
  readonly planName?: Readonly<Record<string, string>>;
  readonly want?: 'allow';
  readonly wantError?: string;
}
interface VectorFile {
  readonly shaped: Readonly<Record<string, string>>;
  readonly vectors: readonly Vector[];
}

const file = JSON.parse(
  readFileSync(new URL('./vectors/second-check.json', import.meta.url), 'utf8'),
) as VectorFile;

function build(v: Vector) {
  const names = v.with ?? ['citizens'];
  const defs = names.map(
    (n) => `"sluice$${n}" AS NOT MATERIALIZED (${file.shaped[n] ?? 'missing fixture'})`,
  );
  const sql = v.sql
    .replaceAll('{{with}}', `WITH ${defs.join(', ')}`)
    .replace(/\{\{body:([a-z_]+)\}\}/g, (_, n: string) => file.shaped[n] ?? 'missing fixture');
  const shaped = names.map((n) => ({
    name: v.planName?.[n] ?? `sluice$${n}`,
    dataset: n,
    sql: v.plan?.[n] ?? file.shaped[n] ?? 'missing fixture',
  }));
  return { sql, shaped };
}

let instance: DuckDBInstance;
let conn: DuckDBConnection;
const serialize = async (sql: string): Promise<string> => {
  const reader = await conn.runAndReadAll(
    'SELECT json_serialize_sql($1::VARCHAR)',
    [sql],
    [VARCHAR],
  );
  return String(reader.getRows()[0]?.[0]);
};

beforeAll(async () => {
  instance = await DuckDBInstance.create(':memory:');
  conn = await instance.connect();
  await conn.run(`ATTACH ':memory:' AS sluice_data;
    CREATE TABLE sluice_data.main.citizens AS
      SELECT i AS id, 'n' || i AS name, 'card' || i AS id_card, '138' || i AS phone,
        CASE WHEN i % 2 = 0 THEN 'F' ELSE 'M' END AS gender, DATE '1980-01-01' + i::INTEGER AS birth_date,
        CASE WHEN i % 3 = 0 THEN 'Pudong' ELSE 'Xuhui' END AS district, i * 10.5 AS income
      FROM range(50) t(i);
    CREATE TABLE sluice_data.main.airports AS SELECT 'PVG' AS iata, 'Pudong' AS name, 'SH' AS state;`);
});

afterAll(() => {
  conn?.closeSync();
  instance?.closeSync();
});

describe('second check vectors', () => {
  it('has both allowed and denied vectors', () => {
    expect(file.vectors.filter((v) => v.want === 'allow').length).toBeGreaterThan(10);
    expect(file.vectors.filter((v) => v.wantError).length).toBeGreaterThan(40);
  });

  for (const v of file.vectors) {
    it(v.desc, async () => {
      const plan = build(v);
      let error: unknown = null;
      try {
        await secondCheck(plan, serialize);
      } catch (err) {
        error = err;
      }
      if (v.want === 'allow') {
        expect(error).toBeNull();
        // An allowed vector must also be real SQL that binds and runs.
        await conn.runAndReadAll(plan.sql);
      } else {
        expect(isSluiceError(error)).toBe(true);
        expect((error as { code: string }).code).toBe(v.wantError);
        // Messages never echo the query's literals.
        expect((error as Error).message).not.toMatch(/passwd|0f1e|Pudong/);
      }
    });
  }
});

describe('second check input handling', () => {
  it('denies when the serializer output is not JSON', async () => {
    await expect(
      secondCheck({ sql: 'SELECT 1', shaped: [] }, async () => 'not json'),
    ).rejects.toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('denies when the serializer throws', async () => {
    const failing = async (): Promise<string> => {
      throw new Error('engine gone');
    };
    await expect(secondCheck({ sql: 'SELECT 1', shaped: [] }, failing)).rejects.toMatchObject({
      code: 'POLICY_DENIED',
    });
  });

  it('denies an unknown expression class injected into the tree', async () => {
    const real = await serialize('SELECT 1');
    const doctored = real.replace('"class":"CONSTANT"', '"class":"FUTURE_THING"');
    await expect(
      secondCheck({ sql: 'SELECT 1', shaped: [] }, async () => doctored),
    ).rejects.toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('denies an unknown field on a known node', async () => {
    const real = await serialize('SELECT 1');
    const doctored = real.replace('"select_list":', '"new_field":null,"select_list":');
    await expect(
      secondCheck({ sql: 'SELECT 1', shaped: [] }, async () => doctored),
    ).rejects.toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('compares with the tree DuckDB gives for this call, not one remembered from an earlier check', async () => {
    const plan = build({ desc: 'plain', sql: '{{with}} SELECT count(*) FROM "sluice$citizens"' });
    await secondCheck(plan, serialize);
    await secondCheck(plan, serialize);
    // The same shaped SQL now parses (per this serializer) to a body without the row filter:
    // the query's CTE no longer matches it, although the genuine tree passed just before.
    const body = file.shaped.citizens!;
    const unfiltered = await serialize(body.slice(0, body.indexOf(' WHERE ')));
    const lying = async (sql: string) => (sql === body ? unfiltered : serialize(sql));
    await expect(secondCheck(plan, lying)).rejects.toMatchObject({ code: 'POLICY_DENIED' });
  });

  it('respects a non-default data catalog name', async () => {
    const body = 'SELECT "iata" AS "iata" FROM "other_cat"."main"."airports"';
    const plan = {
      sql: `WITH "sluice$airports" AS NOT MATERIALIZED (${body}) SELECT * FROM "sluice$airports"`,
      shaped: [{ name: 'sluice$airports', dataset: 'airports', sql: body }],
    };
    await expect(secondCheck(plan, serialize)).rejects.toMatchObject({ code: 'POLICY_DENIED' });
    await expect(secondCheck(plan, serialize, { dataCatalog: 'other_cat' })).resolves.toBe(
      undefined,
    );
  });

  it('refuses absurdly deep nesting without crashing', async () => {
    const deep = `SELECT ${'abs('.repeat(900)}1${')'.repeat(900)}`;
    const err = await secondCheck({ sql: deep, shaped: [] }, serialize).catch((e: unknown) => e);
    expect(isSluiceError(err)).toBe(true);
  });
});
