import type { DuckDBConnection } from '@duckdb/node-api';
import { SluiceError } from '../gateway/errors.ts';
import { draw, randInt, randPick, sqlStringList } from './sql-random.ts';
import { alphanumericSegments, commaList, grammarTextSegments } from './tpch-text.ts';

/**
 * A TPC-H generator in SQL, after the specification (TPC-H 2.x/3.x, clause 4.2): the eight
 * tables with the spec's columns, types, cardinalities and value domains. It is not dbgen:
 * values are drawn from DuckDB `hash()` streams, so the data is deterministic but not
 * byte-equal to dbgen's. Answers are checked against DuckDB on the same data.
 */

export const TPCH_TABLES = [
  'region',
  'nation',
  'supplier',
  'customer',
  'part',
  'partsupp',
  'orders',
  'lineitem',
] as const;
export type TpchTable = (typeof TPCH_TABLES)[number];

export const TPCH_MIN_SCALE = 0.01;
export const TPCH_MAX_SCALE = 100;

export const REGIONS = ['AFRICA', 'AMERICA', 'ASIA', 'EUROPE', 'MIDDLE EAST'] as const;

/** The 25 nations and their regions (clause 4.2.3), nationkey = position. */
export const NATIONS: readonly (readonly [string, number])[] = [
  ['ALGERIA', 0],
  ['ARGENTINA', 1],
  ['BRAZIL', 1],
  ['CANADA', 1],
  ['EGYPT', 4],
  ['ETHIOPIA', 0],
  ['FRANCE', 3],
  ['GERMANY', 3],
  ['INDIA', 2],
  ['INDONESIA', 2],
  ['IRAN', 4],
  ['IRAQ', 4],
  ['JAPAN', 2],
  ['JORDAN', 4],
  ['KENYA', 0],
  ['MOROCCO', 0],
  ['MOZAMBIQUE', 0],
  ['PERU', 1],
  ['CHINA', 2],
  ['ROMANIA', 3],
  ['SAUDI ARABIA', 4],
  ['VIETNAM', 2],
  ['RUSSIA', 3],
  ['UNITED KINGDOM', 3],
  ['UNITED STATES', 1],
];

/** The 92 colour words part names are made of. */
export const COLORS = commaList(`
  almond, antique, aquamarine, azure, beige, bisque, black, blanched, blue, blush, brown,
  burlywood, burnished, chartreuse, chiffon, chocolate, coral, cornflower, cornsilk, cream,
  cyan, dark, deep, dim, dodger, drab, firebrick, floral, forest, frosted, gainsboro, ghost,
  goldenrod, green, grey, honeydew, hot, indian, ivory, khaki, lace, lavender, lawn, lemon,
  light, lime, linen, magenta, maroon, medium, metallic, midnight, mint, misty, moccasin,
  navajo, navy, olive, orange, orchid, pale, papaya, peach, peru, pink, plum, powder, puff,
  purple, red, rose, rosy, royal, saddle, salmon, sandy, seashell, sienna, sky, slate, smoke,
  snow, spring, steel, tan, thistle, tomato, turquoise, violet, wheat, white, yellow
`);

const TYPE_SYLLABLES = [
  ['STANDARD', 'SMALL', 'MEDIUM', 'LARGE', 'ECONOMY', 'PROMO'],
  ['ANODIZED', 'BURNISHED', 'PLATED', 'POLISHED', 'BRUSHED'],
  ['TIN', 'NICKEL', 'BRASS', 'STEEL', 'COPPER'],
] as const;
const CONTAINER_SYLLABLES = [
  ['SM', 'LG', 'MED', 'JUMBO', 'WRAP'],
  ['CASE', 'BOX', 'BAG', 'JAR', 'PKG', 'PACK', 'CAN', 'DRUM'],
] as const;
export const SEGMENTS = ['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'];
export const PRIORITIES = ['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'];
export const SHIP_INSTRUCTIONS = ['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'];
export const SHIP_MODES = ['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'];

const START_DATE = '1992-01-01';
/** Order dates run to ENDDATE - 151 days = 1998-08-02, 2,405 days after STARTDATE. */
const ORDER_DATE_SPAN = 2405;
/** The spec's CURRENTDATE: it splits returnflag and linestatus. */
const CURRENT_DATE = '1995-06-17';

// Offsets of a helper's second and third draws, clear of every stream number in T.
const SUB1 = 100_000;
const SUB2 = 200_000;

const TEXT_SEGMENTS = 8192;
const TEXT_LENGTH = 256;
const VSTR_SEGMENTS = 4096;
const VSTR_LENGTH = 64;

/**
 * The fixed seed. Any seed gives spec-conformant data; this one is the first for which all 22
 * queries answer non-empty at SF 0.01, where Q18 and Q19 each expect only one or two qualifying
 * rows (dbgen's own SF 0.01 data has two for Q18).
 */
export const TPCH_SEED = 21;

// Streams of independent draws, offset by the seed; they only need to differ within this module.
function streams(seed: number) {
  const b = 1000 + seed * 10_000_000;
  return {
    regionComment: b + 1,
    nationComment: b + 2,
    sNation: b + 10,
    sAddress: b + 11,
    sPhone: b + 12,
    sAcctbal: b + 13,
    sComment: b + 14,
    sSpecial: b + 15,
    sSpecialAt: b + 16,
    sSpecialGap: b + 17,
    cAddress: b + 20,
    cNation: b + 21,
    cPhone: b + 22,
    cAcctbal: b + 23,
    cSegment: b + 24,
    cComment: b + 25,
    pName: b + 30,
    pMfgr: b + 36,
    pBrand: b + 37,
    pType: b + 38,
    pSize: b + 39,
    pContainer1: b + 40,
    pContainer2: b + 41,
    pComment: b + 42,
    psAvail: b + 50,
    psCost: b + 51,
    psComment: b + 52,
    oCust: b + 60,
    oDate: b + 61,
    oPriority: b + 62,
    oClerk: b + 63,
    oComment: b + 64,
    oLines: b + 65,
    lPart: b + 70,
    lSupp: b + 71,
    lQuantity: b + 72,
    lDiscount: b + 73,
    lTax: b + 74,
    lShip: b + 75,
    lCommit: b + 76,
    lReceipt: b + 77,
    lReturn: b + 78,
    lInstruct: b + 79,
    lMode: b + 80,
    lComment: b + 81,
  } as const;
}

/** Row counts of the scaled tables (clause 4.2.5); lineitem varies, 1–7 per order. */
export function tpchCardinalities(scale: number) {
  const n = (base: number) => Math.floor(scale * base);
  return {
    region: 5,
    nation: 25,
    supplier: n(10_000),
    customer: n(150_000),
    part: n(200_000),
    partsupp: 4 * n(200_000),
    orders: n(1_500_000),
    clerks: Math.max(1, n(1_000)),
  } as const;
}

/**
 * Throws BAD_REQUEST unless `scale` is a usable scale factor: within [0.01, 100], and one for
 * which the spec's partsupp formula gives each part four distinct suppliers. It does not for
 * some small supplier counts (e.g. SF 0.015: 150 suppliers), where (part, supplier) would repeat.
 */
export function checkTpchScale(scale: number): void {
  const bad = (why: string) => new SluiceError('BAD_REQUEST', `TPC-H scale factor ${why}`);
  if (!Number.isFinite(scale) || scale < TPCH_MIN_SCALE || scale > TPCH_MAX_SCALE) {
    throw bad(`must be between ${TPCH_MIN_SCALE} and ${TPCH_MAX_SCALE}`);
  }
  const { supplier: s, part: p } = tpchCardinalities(scale);
  for (let k = 0; k <= Math.floor((p - 1) / s); k++) {
    const step = Math.floor(s / 4) + k;
    if ([1, 2, 3].some((d) => (d * step) % s === 0)) {
      throw bad(`${scale} would repeat partsupp keys; use e.g. 0.01, 0.02, 0.05, 0.1 or 1`);
    }
  }
}

/** A substring of the grammar text of random length in [lo, hi] (clause 4.2.2.10). */
function text(stream: number, key: string, lo: number, hi: number): string {
  return `substr(tpch_texts()[1 + (${draw(stream, key)} % ${TEXT_SEGMENTS})::BIGINT],
    ${randInt(stream + SUB1, key, 1, TEXT_LENGTH - hi + 1)}, ${randInt(stream + SUB2, key, lo, hi)})`;
}

/** A random alphanumeric string of length in [lo, hi] (clause 4.2.2.7). */
function vstring(stream: number, key: string, lo: number, hi: number): string {
  return `substr(tpch_vstrs()[1 + (${draw(stream, key)} % ${VSTR_SEGMENTS})::BIGINT],
    ${randInt(stream + SUB1, key, 1, VSTR_LENGTH - hi + 1)}, ${randInt(stream + SUB2, key, lo, hi)})`;
}

/** 'CC-LLL-LLL-LLLL' with country code nationkey + 10 (clause 4.2.2.9). */
function phone(stream: number, key: string, nationkey: string): string {
  return `((${nationkey} + 10)::VARCHAR || '-' || ${randInt(stream, key, 100, 999)}::VARCHAR || '-'
    || ${randInt(stream + SUB1, key, 100, 999)}::VARCHAR || '-' || ${randInt(stream + SUB2, key, 1000, 9999)}::VARCHAR)`;
}

/** A money amount in [lo, hi] cents, as DECIMAL(15,2). */
function money(stream: number, key: string, loCents: number, hiCents: number): string {
  return `(${randInt(stream, key, loCents, hiCents)}::DECIMAL(15,2) / 100)::DECIMAL(15,2)`;
}

/** p_retailprice as a function of the part key (clause 4.2.3), so lineitem needs no join. */
function retailPrice(partkey: string): string {
  return `((90000 + (${partkey} // 10) % 20001 + 100 * (${partkey} % 1000))::DECIMAL(15,2) / 100)::DECIMAL(15,2)`;
}

/** The supplier of a part's i-th partsupp row, i in 0..3 (clause 4.2.3). */
function partSupplier(partkey: string, i: string, suppliers: number): string {
  return `((${partkey} + ${i} * (${Math.floor(suppliers / 4)} + (${partkey} - 1) // ${suppliers})) % ${suppliers} + 1)`;
}

/**
 * Defines the text pools as macros returning constant lists, indexed per row. A constant
 * expression is never copied per row, whereas a pool joined in as a column would be copied into
 * every row an operator materializes (a window, a sort): gigabytes at SF 1.
 */
async function createTextPool(conn: DuckDBConnection): Promise<void> {
  const texts = sqlStringList(grammarTextSegments(TEXT_SEGMENTS, TEXT_LENGTH));
  const vstrs = sqlStringList(alphanumericSegments(VSTR_SEGMENTS, VSTR_LENGTH));
  await conn.run(`CREATE OR REPLACE TEMP MACRO tpch_texts() AS ${texts}`);
  await conn.run(`CREATE OR REPLACE TEMP MACRO tpch_vstrs() AS ${vstrs}`);
}

/**
 * Creates the eight TPC-H tables at scale factor `scale` in the connection's current schema,
 * drawing from `seed`'s streams. Throws BAD_REQUEST for a scale `checkTpchScale` refuses.
 * Precondition: the tables do not exist.
 */
export async function generateTpch(
  conn: DuckDBConnection,
  scale: number,
  seed = TPCH_SEED,
): Promise<void> {
  checkTpchScale(scale);
  const T = streams(seed);
  const n = tpchCardinalities(scale);
  const S = n.supplier;
  await createTextPool(conn);

  await conn.run(`
    CREATE TABLE region AS
    SELECT r::INTEGER AS r_regionkey, ${sqlStringList(REGIONS)}[r + 1]::VARCHAR AS r_name,
      ${text(T.regionComment, 'r', 31, 115)}::VARCHAR AS r_comment
    FROM range(0, 5) t(r)
    ORDER BY r`);

  await conn.run(`
    CREATE TABLE nation AS
    SELECT k::INTEGER AS n_nationkey,
      ${sqlStringList(NATIONS.map(([name]) => name))}[k + 1]::VARCHAR AS n_name,
      [${NATIONS.map(([, region]) => region).join(', ')}][k + 1]::INTEGER AS n_regionkey,
      ${text(T.nationComment, 'k', 31, 114)}::VARCHAR AS n_comment
    FROM range(0, 25) t(k)
    ORDER BY k`);

  // SF×5 suppliers each get "Customer ... Complaints" and "Customer ... Recommends" spliced into
  // the comment (clause 4.2.3); at least one each so Q16's filter has something to exclude.
  const special = Math.max(1, Math.round(scale * 5));
  const gap = randInt(T.sSpecialGap, 'k', 0, 5);
  const splice = (word: string) =>
    `left(cmt, pos) || 'Customer ' || substr(cmt, pos + 1, ${gap}) || '${word}' || substr(cmt, pos + ${gap} + 20)`;
  await conn.run(`
    CREATE TABLE supplier AS
    WITH base AS (
      SELECT k, ${randInt(T.sNation, 'k', 0, 24)} AS nk,
        ${text(T.sComment, 'k', 25, 100)} AS cmt,
        row_number() OVER (ORDER BY ${draw(T.sSpecial, 'k')}, k) AS special_rank,
        ${vstring(T.sAddress, 'k', 10, 40)} AS address
      FROM range(1, ${S + 1}) t(k)
    ),
    placed AS (
      SELECT *, (${draw(T.sSpecialAt, 'k')} % (length(cmt) - 18 - ${gap}))::BIGINT AS pos FROM base
    )
    SELECT
      k::INTEGER AS s_suppkey,
      ('Supplier#' || lpad(k::VARCHAR, 9, '0'))::VARCHAR AS s_name,
      address::VARCHAR AS s_address,
      nk::INTEGER AS s_nationkey,
      ${phone(T.sPhone, 'k', 'nk')}::VARCHAR AS s_phone,
      ${money(T.sAcctbal, 'k', -99_999, 999_999)} AS s_acctbal,
      (CASE WHEN special_rank <= ${special} THEN ${splice('Complaints')}
            WHEN special_rank <= ${2 * special} THEN ${splice('Recommends')}
            ELSE cmt END)::VARCHAR AS s_comment
    FROM placed
    ORDER BY k`);

  const custNation = randInt(T.cNation, 'k', 0, 24);
  await conn.run(`
    CREATE TABLE customer AS
    SELECT
      k::INTEGER AS c_custkey,
      ('Customer#' || lpad(k::VARCHAR, 9, '0'))::VARCHAR AS c_name,
      ${vstring(T.cAddress, 'k', 10, 40)}::VARCHAR AS c_address,
      ${custNation}::INTEGER AS c_nationkey,
      ${phone(T.cPhone, 'k', custNation)}::VARCHAR AS c_phone,
      ${money(T.cAcctbal, 'k', -99_999, 999_999)} AS c_acctbal,
      ${randPick(T.cSegment, 'k', SEGMENTS)}::VARCHAR AS c_mktsegment,
      ${text(T.cComment, 'k', 29, 116)}::VARCHAR AS c_comment
    FROM range(1, ${n.customer + 1}) t(k)
    ORDER BY k`);

  // Five distinct colours: each draw picks among the colours not yet taken, by stepping over
  // the taken positions in ascending order.
  const nextColor = (step: number) =>
    `list_append(w, list_reduce(list_sort(w), lambda acc, v: acc + (acc >= v)::INTEGER,
      (${draw(T.pName + step, 'k')} % ${COLORS.length - step})::INTEGER))`;
  const types = TYPE_SYLLABLES.map((s) => sqlStringList(s));
  await conn.run(`
    CREATE TABLE part AS
    WITH w1 AS (
      SELECT k, [(${draw(T.pName, 'k')} % ${COLORS.length})::INTEGER] AS w FROM range(1, ${n.part + 1}) t(k)
    ),
    w2 AS (SELECT k, ${nextColor(1)} AS w FROM w1),
    w3 AS (SELECT k, ${nextColor(2)} AS w FROM w2),
    w4 AS (SELECT k, ${nextColor(3)} AS w FROM w3),
    w5 AS (SELECT k, ${nextColor(4)} AS w FROM w4),
    base AS (
      SELECT k, w, ${randInt(T.pMfgr, 'k', 1, 5)} AS m, ${randInt(T.pType, 'k', 0, 149)} AS ty FROM w5
    )
    SELECT
      k::INTEGER AS p_partkey,
      array_to_string(list_transform(w, lambda x: ${sqlStringList(COLORS)}[x + 1]), ' ')::VARCHAR AS p_name,
      ('Manufacturer#' || m)::VARCHAR AS p_mfgr,
      ('Brand#' || m || ${randInt(T.pBrand, 'k', 1, 5)})::VARCHAR AS p_brand,
      (${types[0]}[ty // 25 + 1] || ' ' || ${types[1]}[(ty // 5) % 5 + 1] || ' ' || ${types[2]}[ty % 5 + 1])::VARCHAR AS p_type,
      ${randInt(T.pSize, 'k', 1, 50)}::INTEGER AS p_size,
      (${randPick(T.pContainer1, 'k', CONTAINER_SYLLABLES[0])} || ' '
        || ${randPick(T.pContainer2, 'k', CONTAINER_SYLLABLES[1])})::VARCHAR AS p_container,
      ${retailPrice('k')} AS p_retailprice,
      ${text(T.pComment, 'k', 5, 22)}::VARCHAR AS p_comment
    FROM base
    ORDER BY k`);

  await conn.run(`
    CREATE TABLE partsupp AS
    SELECT
      k::INTEGER AS ps_partkey,
      ${partSupplier('k', 'i', S)}::INTEGER AS ps_suppkey,
      ${randInt(T.psAvail, 'k, i', 1, 9999)}::INTEGER AS ps_availqty,
      ${money(T.psCost, 'k, i', 100, 100_000)} AS ps_supplycost,
      ${text(T.psComment, 'k, i', 49, 198)}::VARCHAR AS ps_comment
    FROM range(1, ${n.part + 1}) t(k), range(0, 4) u(i)
    ORDER BY k, i`);

  // Orders first without status and total: both are functions of the order's line items.
  // Keys are sparse as in dbgen (8 used in every 32); a third of customers (custkey divisible
  // by 3) never order, which Q13 and Q22 rely on.
  const eligible = n.customer - Math.floor(n.customer / 3);
  await conn.run(`
    CREATE TEMP TABLE tpch_orders AS
    WITH base AS (
      SELECT i, ${randInt(T.oCust, 'i', 0, eligible - 1)} AS c FROM range(1, ${n.orders + 1}) t(i)
    )
    SELECT
      ((i >> 3) << 5) + (i & 7) AS o_orderkey,
      3 * (c // 2) + c % 2 + 1 AS o_custkey,
      DATE '${START_DATE}' + ${randInt(T.oDate, 'i', 0, ORDER_DATE_SPAN)}::INTEGER AS o_orderdate,
      ${randPick(T.oPriority, 'i', PRIORITIES)} AS o_orderpriority,
      'Clerk#' || lpad(${randInt(T.oClerk, 'i', 1, n.clerks)}::VARCHAR, 9, '0') AS o_clerk,
      ${text(T.oComment, 'i', 19, 78)} AS o_comment,
      ${randInt(T.oLines, 'i', 1, 7)} AS lines
    FROM base
    ORDER BY i`);

  const key = 'o_orderkey, ln';
  await conn.run(`
    CREATE TABLE lineitem AS
    WITH lines AS (
      SELECT o_orderkey, o_orderdate, unnest(range(1, lines + 1)) AS ln FROM tpch_orders
    ),
    drawn AS (
      SELECT
        o_orderkey, ln,
        ${randInt(T.lPart, key, 1, n.part)} AS pk,
        ${randInt(T.lSupp, key, 0, 3)} AS si,
        ${randInt(T.lQuantity, key, 1, 50)} AS qty,
        o_orderdate + ${randInt(T.lShip, key, 1, 121)}::INTEGER AS ship,
        o_orderdate + ${randInt(T.lCommit, key, 30, 90)}::INTEGER AS commit_date,
        ${randInt(T.lReceipt, key, 1, 30)}::INTEGER AS receipt_days
      FROM lines
    )
    SELECT
      o_orderkey::BIGINT AS l_orderkey,
      pk::INTEGER AS l_partkey,
      ${partSupplier('pk', 'si', S)}::INTEGER AS l_suppkey,
      ln::INTEGER AS l_linenumber,
      qty::DECIMAL(15,2) AS l_quantity,
      (qty * ${retailPrice('pk')})::DECIMAL(15,2) AS l_extendedprice,
      (${randInt(T.lDiscount, key, 0, 10)}::DECIMAL(15,2) / 100)::DECIMAL(15,2) AS l_discount,
      (${randInt(T.lTax, key, 0, 8)}::DECIMAL(15,2) / 100)::DECIMAL(15,2) AS l_tax,
      (CASE WHEN ship + receipt_days <= DATE '${CURRENT_DATE}'
            THEN ${randPick(T.lReturn, key, ['R', 'A'])} ELSE 'N' END)::VARCHAR AS l_returnflag,
      (CASE WHEN ship > DATE '${CURRENT_DATE}' THEN 'O' ELSE 'F' END)::VARCHAR AS l_linestatus,
      ship AS l_shipdate,
      commit_date AS l_commitdate,
      ship + receipt_days AS l_receiptdate,
      ${randPick(T.lInstruct, key, SHIP_INSTRUCTIONS)}::VARCHAR AS l_shipinstruct,
      ${randPick(T.lMode, key, SHIP_MODES)}::VARCHAR AS l_shipmode,
      ${text(T.lComment, key, 10, 43)}::VARCHAR AS l_comment
    FROM drawn
    ORDER BY o_orderkey, ln`);

  await conn.run(`
    CREATE TABLE orders AS
    WITH agg AS (
      SELECT l_orderkey,
        count(*) AS lines,
        count(*) FILTER (WHERE l_linestatus = 'F') AS shipped,
        sum(l_extendedprice * (1 + l_tax) * (1 - l_discount)) AS total
      FROM lineitem GROUP BY l_orderkey
    )
    SELECT
      o.o_orderkey::BIGINT AS o_orderkey,
      o.o_custkey::INTEGER AS o_custkey,
      (CASE WHEN a.shipped = a.lines THEN 'F' WHEN a.shipped = 0 THEN 'O' ELSE 'P' END)::VARCHAR
        AS o_orderstatus,
      a.total::DECIMAL(15,2) AS o_totalprice,
      o.o_orderdate,
      o.o_orderpriority::VARCHAR AS o_orderpriority,
      o.o_clerk::VARCHAR AS o_clerk,
      0::INTEGER AS o_shippriority,
      o.o_comment::VARCHAR AS o_comment
    FROM tpch_orders o JOIN agg a ON a.l_orderkey = o.o_orderkey
    ORDER BY o.o_orderkey`);

  await conn.run('DROP TABLE temp.main.tpch_orders');
  await conn.run('DROP MACRO temp.main.tpch_texts');
  await conn.run('DROP MACRO temp.main.tpch_vstrs');
}
