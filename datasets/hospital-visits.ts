import type { DuckDBConnection } from '@duckdb/node-api';
import {
  randInt,
  randNormal,
  randWeighted,
  randWeightedIndex,
  sqlNumberList,
  sqlStringList,
} from './sql-random.ts';

/** Real Shanghai hospitals, weighted roughly by outpatient volume. */
const HOSPITALS: readonly (readonly [string, number])[] = [
  ['Ruijin Hospital', 10],
  ['Zhongshan Hospital', 10],
  ['Huashan Hospital', 9],
  ['Renji Hospital', 9],
  ["Shanghai Sixth People's Hospital", 8],
  ['Xinhua Hospital', 7],
  ['Shanghai General Hospital', 7],
  ["Shanghai Tenth People's Hospital", 6],
  ["Shanghai Ninth People's Hospital", 6],
  ['Changhai Hospital', 6],
  ['Changzheng Hospital', 5],
  ['Shanghai East Hospital', 5],
  ['Longhua Hospital', 5],
  ['Shuguang Hospital', 5],
  ['Yueyang Hospital', 4],
  ['Shanghai Tongji Hospital', 4],
  ['Shanghai Tongren Hospital', 4],
  ["Shanghai Fifth People's Hospital", 3],
  ['Shanghai Pulmonary Hospital', 3],
  ['Shanghai Chest Hospital', 3],
  ['Fudan University Shanghai Cancer Center', 3],
  ['Eye and ENT Hospital of Fudan University', 3],
  ['Obstetrics and Gynecology Hospital of Fudan University', 2],
  ['International Peace Maternity and Child Health Hospital', 2],
  ["Shanghai Children's Medical Center", 2],
  ["Shanghai Children's Hospital", 2],
];

/** ICD-10 code, relative frequency, typical cost of one visit in CNY. */
const DIAGNOSES: readonly (readonly [string, number, number])[] = [
  ['J06.9', 120, 250], // acute upper respiratory infection
  ['I10', 110, 320], // essential hypertension
  ['E11.9', 80, 450], // type 2 diabetes without complications
  ['J20.9', 50, 380], // acute bronchitis
  ['K29.7', 45, 420], // gastritis
  ['Z00.0', 40, 500], // general medical examination
  ['M54.5', 40, 360], // low back pain
  ['E78.5', 35, 300], // hyperlipidaemia
  ['I25.1', 30, 1_800], // atherosclerotic heart disease
  ['K21.9', 25, 400], // gastro-oesophageal reflux
  ['B34.9', 25, 280], // viral infection
  ['J18.9', 20, 4_200], // pneumonia
  ['N39.0', 20, 350], // urinary tract infection
  ['L30.9', 20, 230], // dermatitis
  ['M17.9', 18, 900], // gonarthrosis
  ['H52.1', 18, 220], // myopia
  ['A09', 18, 380], // gastroenteritis
  ['R51', 15, 260], // headache
  ['F32.9', 12, 650], // depressive episode
  ['J45.9', 10, 480], // asthma
  ['I63.9', 8, 18_000], // cerebral infarction
  ['K80.2', 6, 12_000], // gallstones
  ['S52.5', 5, 6_500], // fracture of the lower end of the radius
  ['N18.9', 5, 2_600], // chronic kidney disease
  ['C34.9', 4, 32_000], // lung cancer
  ['O80', 4, 9_000], // single spontaneous delivery
];

const FIRST_DAY = '2023-01-01';
const DAYS = 731; // 2023-01-01 .. 2024-12-31

const S = { citizen: 201, day: 202, hospital: 203, diagnosis: 204, cost: 205 } as const;

/**
 * Creates `table` with `rows` synthetic visits in 2023–2024, visit ids 1..rows, each of a
 * citizen with id in 1..`citizens` (the ids `generateCitizens` produced).
 */
export async function generateHospitalVisits(
  conn: DuckDBConnection,
  rows: number,
  citizens: number,
  table = 'hospital_visits',
): Promise<void> {
  const diagnosis = randWeightedIndex(
    S.diagnosis,
    'i',
    DIAGNOSES.map(([, w]) => w),
  );
  await conn.run(`
    CREATE TABLE ${table} AS
    WITH base AS (
      SELECT i, ${diagnosis} AS dx FROM range(1, ${rows + 1}) t(i)
    )
    SELECT
      i::INTEGER AS visit_id,
      ${randInt(S.citizen, 'i', 1, citizens)}::INTEGER AS citizen_id,
      (DATE '${FIRST_DAY}' + ${randInt(S.day, 'i', 0, DAYS - 1)}::INTEGER) AS visit_date,
      ${randWeighted(S.hospital, 'i', HOSPITALS)}::VARCHAR AS hospital,
      ${sqlStringList(DIAGNOSES.map(([code]) => code))}[dx]::VARCHAR AS diagnosis,
      (${sqlNumberList(DIAGNOSES.map(([, , cost]) => cost))}[dx]
        * exp(0.45 * ${randNormal(S.cost, 'i')}))::DECIMAL(10,2) AS cost
    FROM base
    ORDER BY i
  `);
}
