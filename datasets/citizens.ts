import type { DuckDBConnection } from '@duckdb/node-api';
import {
  draw,
  randInt,
  randNormal,
  randPick,
  randUnit,
  randWeighted,
  randWeightedIndex,
  sqlNumberList,
  sqlStringList,
} from './sql-random.ts';

/**
 * Shanghai's 16 districts: pinyin name as DESIGN.md spells it, the 6-digit resident-ID area code,
 * the 2020 census population in 10,000s (the sampling weight) and a synthetic median annual
 * income in CNY (central districts earn more).
 */
export const SHANGHAI_DISTRICTS = [
  { name: 'Pudong', areaCode: '310115', population: 568, medianIncome: 108_000 },
  { name: 'Xuhui', areaCode: '310104', population: 111, medianIncome: 125_000 },
  { name: 'Huangpu', areaCode: '310101', population: 66, medianIncome: 118_000 },
  { name: 'Jingan', areaCode: '310106', population: 98, medianIncome: 120_000 },
  { name: 'Changning', areaCode: '310105', population: 69, medianIncome: 112_000 },
  { name: 'Putuo', areaCode: '310107', population: 124, medianIncome: 88_000 },
  { name: 'Hongkou', areaCode: '310109', population: 76, medianIncome: 92_000 },
  { name: 'Yangpu', areaCode: '310110', population: 124, medianIncome: 95_000 },
  { name: 'Minhang', areaCode: '310112', population: 265, medianIncome: 96_000 },
  { name: 'Baoshan', areaCode: '310113', population: 224, medianIncome: 80_000 },
  { name: 'Jiading', areaCode: '310114', population: 183, medianIncome: 78_000 },
  { name: 'Jinshan', areaCode: '310116', population: 82, medianIncome: 60_000 },
  { name: 'Songjiang', areaCode: '310117', population: 191, medianIncome: 76_000 },
  { name: 'Qingpu', areaCode: '310118', population: 127, medianIncome: 70_000 },
  { name: 'Fengxian', areaCode: '310120', population: 114, medianIncome: 64_000 },
  { name: 'Chongming', areaCode: '310151', population: 64, medianIncome: 52_000 },
] as const;

/** Parses 'value weight, value weight, …' into weighted entries. */
function weightedList(text: string): (readonly [string, number])[] {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const [value, weight] = entry.split(/\s+/);
      return [value!, Number(weight)] as const;
    });
}

/** Common surnames with rough frequencies (per mille), Shanghai-leaning. */
const SURNAMES = weightedList(`
  王 70, 张 70, 陈 55, 李 55, 刘 40, 徐 25, 朱 20, 杨 25, 黄 20, 吴 22, 周 20, 赵 15, 孙 14, 沈 12, 陆 12,
  顾 11, 马 12, 胡 12, 郭 10, 何 10, 高 10, 林 10, 罗 8, 郑 9, 梁 7, 谢 8, 宋 7, 唐 8, 许 8, 韩 6, 冯 7,
  邓 6, 曹 7, 彭 5, 曾 5, 肖 5, 田 4, 董 6, 袁 5, 潘 6, 于 4, 蒋 7, 蔡 6, 余 5, 杜 4, 叶 6, 程 5, 苏 4, 魏 4,
  吕 4, 丁 5, 任 4, 姚 5, 卢 4, 姜 4, 崔 3, 钟 4, 谭 3, 汪 5, 范 5, 金 6, 石 3, 廖 3, 贾 3, 夏 4, 方 4, 邹 3,
  孟 3, 秦 3, 邱 3, 江 4, 薛 3, 钱 6, 严 4, 施 5, 戴 4, 龚 4, 邵 4, 汤 3, 毛 3, 欧阳 1, 司马 1, 诸葛 1
`);

const MALE_GIVEN = [
  ...'伟强磊军勇杰涛明超刚平辉鹏华飞斌宇浩凯健俊帆帅旭宁龙林峰建国文波海志成东亮晨阳博轩然睿泽昊航哲彬毅江',
];
const FEMALE_GIVEN = [
  ...'芳娜敏静丽艳娟霞秀英兰玲燕萍红梅琳丹婷雪慧颖洁倩欣怡佳璐晶琪瑶雯思涵悦萱妍蕾莉露月莹婧彤嘉晓文宁雨',
];

/** Mobile prefixes 13x–19x, weighted roughly like real allocations. */
const PHONE_SECOND_DIGIT: readonly (readonly [string, number])[] = [
  ['3', 30],
  ['4', 4],
  ['5', 20],
  ['6', 3],
  ['7', 8],
  ['8', 25],
  ['9', 10],
];

/** ISO 7064 MOD 11-2 weights of the 17 body digits, and the check character per remainder. */
const ID_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK_CHARS = '10X98765432';

const BIRTH_FIRST = '1940-01-01';
const BIRTH_DAYS = (Date.UTC(2008, 11, 31) - Date.UTC(1940, 0, 1)) / 86_400_000 + 1;

// Streams of independent draws; numbers only need to differ within this module.
const S = {
  district: 101,
  gender: 102,
  birthShape: 103,
  birthA: 104,
  birthB: 105,
  seq: 106,
  surname: 107,
  given1: 108,
  given2: 109,
  givenLength: 110,
  phone: 111,
  income: 112,
} as const;

/** The check character of a 17-digit resident-ID body (ISO 7064 MOD 11-2). */
export function idCardCheckChar(body17: string): string {
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(body17[i]) * ID_WEIGHTS[i]!;
  return ID_CHECK_CHARS[sum % 11]!;
}

/**
 * Creates `table` with `rows` synthetic Shanghai residents, ids 1..rows. Deterministic: the same
 * `rows` gives the same table. Stored clustered by district (then id): agreements scope this
 * table by district, and DuckDB's per-row-group min/max then skips the row groups outside a
 * scope instead of testing every row. ID-card numbers are unique (the 3-digit sequence is numbered
 * within each area/birth date/gender group) and phones are unique (a bijection of the id).
 * Precondition: `table` is a plain identifier of a table that does not exist yet.
 */
export async function generateCitizens(
  conn: DuckDBConnection,
  rows: number,
  table = 'citizens',
): Promise<void> {
  if (!Number.isSafeInteger(rows) || rows < 1 || rows >= 1e9) {
    throw new RangeError('rows must be an integer in [1, 1e9)');
  }
  const areaCodes = sqlStringList(SHANGHAI_DISTRICTS.map((d) => d.areaCode));
  const names = sqlStringList(SHANGHAI_DISTRICTS.map((d) => d.name));
  const medians = sqlNumberList(SHANGHAI_DISTRICTS.map((d) => d.medianIncome));
  const district = randWeightedIndex(
    S.district,
    'i',
    SHANGHAI_DISTRICTS.map((d) => d.population),
  );
  // A blend of uniform and triangular birth days: every year 1940–2008 present, middle ages commoner.
  const dayA = randInt(S.birthA, 'i', 0, BIRTH_DAYS - 1);
  const dayB = randInt(S.birthB, 'i', 0, BIRTH_DAYS - 1);
  const birthDay = `CASE WHEN ${randUnit(S.birthShape, 'i')} < 0.35 THEN ${dayA} ELSE (${dayA} + ${dayB}) // 2 END`;
  const given = (stream: number) =>
    `CASE WHEN male THEN ${randPick(stream, 'id', MALE_GIVEN)} ELSE ${randPick(stream, 'id', FEMALE_GIVEN)} END`;
  const checkSum = `list_sum(list_transform(range(17), lambda k: (ascii(substr(body, k + 1, 1)) - 48) * ${sqlNumberList(ID_WEIGHTS)}[k + 1]))`;
  // Working-age people earn most; minors and pensioners far less.
  const ageFactor = `CASE
      WHEN age < 18 THEN 0.12 WHEN age < 23 THEN 0.45 WHEN age < 30 THEN 0.85
      WHEN age < 50 THEN 1.15 WHEN age < 60 THEN 1.0 ELSE 0.55 END`;

  await conn.run(`
    CREATE TABLE ${table} AS
    WITH base AS (
      SELECT
        i::INTEGER AS id,
        ${district} AS d,
        ${randUnit(S.gender, 'i')} < 0.515 AS male,
        (DATE '${BIRTH_FIRST}' + (${birthDay})::INTEGER) AS birth_date
      FROM range(1, ${rows + 1}) t(i)
    ),
    numbered AS (
      SELECT *, row_number() OVER (PARTITION BY d, birth_date, male ORDER BY id) AS rn FROM base
    ),
    coded AS (
      SELECT *,
        ${areaCodes}[d] || strftime(birth_date, '%Y%m%d')
          || lpad((2 * (((${draw(S.seq, 'd, birth_date, male')} % 499)::BIGINT + rn - 1) % 499)
                   + CASE WHEN male THEN 1 ELSE 2 END)::VARCHAR, 3, '0') AS body,
        2024 - year(birth_date) AS age
      FROM numbered
    )
    SELECT
      id,
      (${randWeighted(S.surname, 'id', SURNAMES)} || ${given(S.given1)}
        || CASE WHEN ${randUnit(S.givenLength, 'id')} < 0.28 THEN '' ELSE ${given(S.given2)} END
      )::VARCHAR AS name,
      (body || substr('${ID_CHECK_CHARS}', 1 + (${checkSum} % 11)::BIGINT, 1))::VARCHAR AS id_card,
      ('1' || ${randWeighted(S.phone, 'id', PHONE_SECOND_DIGIT)}
        || lpad(((id::BIGINT * 387420489 + 123456789) % 1000000000)::VARCHAR, 9, '0'))::VARCHAR AS phone,
      (CASE WHEN male THEN 'male' ELSE 'female' END)::VARCHAR AS gender,
      birth_date,
      ${names}[d]::VARCHAR AS district,
      round(${medians}[d] * (${ageFactor}) * exp(0.55 * ${randNormal(S.income, 'id')}), 2)::DOUBLE AS income
    FROM coded
    ORDER BY district, id
  `);
}
