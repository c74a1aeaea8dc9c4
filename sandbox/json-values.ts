/**
 * DuckDB values to JSON-safe values. One encoder is built per column type (a dispatch table on
 * the type id) and then applied to every value of that column.
 *
 * Choices (the client contract):
 * - BIGINT, UBIGINT, HUGEINT, UHUGEINT, BIGNUM: a number when within ±(2^53−1), else a decimal
 *   string, so no integer silently loses digits.
 * - DECIMAL(p,s): a number when the number's shortest decimal form is exactly the decimal's
 *   value (e.g. 1234.50 → 1234.5; TPC-H sums of money stay numbers up to ~15 significant
 *   digits), else the exact decimal string (e.g. '12345678901234567.89').
 * - FLOAT: the shortest decimal that reads back as the same 32-bit float (0.1, not
 *   0.10000000149011612). FLOAT/DOUBLE NaN and ±Infinity: 'NaN', 'Infinity', '-Infinity'.
 * - DATE: 'YYYY-MM-DD'; TIMESTAMP*: ISO 8601 'YYYY-MM-DDTHH:MM:SS[.fraction]' (TIMESTAMPTZ adds
 *   'Z'; the engine runs in UTC); dates outside years 1-9999 and ±infinity keep DuckDB's text.
 * - TIME: 'HH:MM:SS[.ffffff]'; TIME WITH TIME ZONE: DuckDB's text ('12:00:00+05:30').
 * - INTERVAL: ISO 8601 duration with signed parts, e.g. 'P1Y2M3DT4H5M6.5S', 'P-1D', 'PT0S'.
 * - BLOB: base64. UUID, ENUM, BIT: strings.
 * - LIST/ARRAY: arrays; STRUCT: objects; MAP: an array of [key, value] pairs; UNION: the
 *   value of its active member. NULL: null.
 */

import {
  type DuckDBArrayType,
  type DuckDBArrayValue,
  type DuckDBBlobValue,
  type DuckDBDateValue,
  type DuckDBDecimalValue,
  type DuckDBIntervalValue,
  type DuckDBListType,
  type DuckDBListValue,
  type DuckDBMapType,
  type DuckDBMapValue,
  type DuckDBStructType,
  type DuckDBStructValue,
  type DuckDBTimestampMillisecondsValue,
  type DuckDBTimestampNanosecondsValue,
  type DuckDBTimestampSecondsValue,
  type DuckDBTimestampTZValue,
  type DuckDBTimestampValue,
  type DuckDBType,
  DuckDBTypeId,
  type DuckDBUnionType,
  type DuckDBUnionValue,
  type DuckDBValue,
  JsonDuckDBValueConverter,
} from '@duckdb/node-api';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [k: string]: JsonValue };

/** Encodes one value of a fixed column type; `null` in, `null` out. */
export type JsonEncoder = (value: DuckDBValue) => JsonValue;

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function safeInteger(v: bigint | number): number | string {
  if (typeof v === 'number') return v;
  return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v.toString();
}

function nonFinite(n: number): string {
  return Number.isNaN(n) ? 'NaN' : n > 0 ? 'Infinity' : '-Infinity';
}

export function doubleToJson(n: number): number | string {
  return Number.isFinite(n) ? n : nonFinite(n);
}

export function floatToJson(f: number): number | string {
  if (!Number.isFinite(f)) return nonFinite(f);
  for (let p = 1; p <= 9; p++) {
    const c = Number(f.toPrecision(p));
    if (Math.fround(c) === f) return c;
  }
  return f;
}

/** The exact text of `unscaled / 10^scale`. */
export function decimalText(unscaled: bigint, scale: number): string {
  const negative = unscaled < 0n;
  const digits = (negative ? -unscaled : unscaled).toString();
  if (scale === 0) return (negative ? '-' : '') + digits;
  const padded = digits.padStart(scale + 1, '0');
  const text = `${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
  return (negative ? '-' : '') + text;
}

/** Canonical plain decimal text: no exponent, no trailing fractional zeros, no '-0'. */
function canonicalDecimal(text: string): string {
  let s = text;
  let sign = '';
  if (s.startsWith('-')) {
    sign = '-';
    s = s.slice(1);
  }
  const e = s.search(/e/i);
  let exponent = 0;
  if (e >= 0) {
    exponent = Number(s.slice(e + 1));
    s = s.slice(0, e);
  }
  const dot = s.indexOf('.');
  let intPart = dot >= 0 ? s.slice(0, dot) : s;
  let frac = dot >= 0 ? s.slice(dot + 1) : '';
  if (exponent > 0) {
    frac = frac.padEnd(exponent, '0');
    intPart += frac.slice(0, exponent);
    frac = frac.slice(exponent);
  } else if (exponent < 0) {
    intPart = intPart.padStart(-exponent + 1, '0');
    frac = intPart.slice(exponent) + frac;
    intPart = intPart.slice(0, exponent);
  }
  intPart = intPart.replace(/^0+(?=\d)/, '');
  frac = frac.replace(/0+$/, '');
  const body = frac ? `${intPart || '0'}.${frac}` : intPart || '0';
  return body === '0' ? '0' : sign + body;
}

const FIFTEEN_DIGITS = 10n ** 15n;
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);

export function decimalToJson(unscaled: bigint, scale: number): number | string {
  // Up to 15 significant digits every decimal survives a double exactly (DBL_DIG), and the
  // quotient of two exact doubles is correctly rounded: no text round trip needed.
  if (unscaled < FIFTEEN_DIGITS && unscaled > -FIFTEEN_DIGITS && scale < POWERS_OF_TEN.length) {
    return Number(unscaled) / POWERS_OF_TEN[scale]!;
  }
  const text = decimalText(unscaled, scale);
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  return canonicalDecimal(String(n)) === canonicalDecimal(text) ? n : text;
}

const MICROS_PER_SECOND = 1_000_000n;

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 'YYYY-MM-DD' of a day number (days since 1970-01-01), proleptic Gregorian, years 1-9999. */
function civilDate(days: number): string {
  // Howard Hinnant's days_from_civil inverse; exact integer arithmetic, no Date objects.
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return `${String(y).padStart(4, '0')}-${pad2(m)}-${pad2(d)}`;
}

/** ISO date-time from whole seconds since the epoch, or null outside years 1-9999. */
function isoSeconds(seconds: bigint): string | null {
  if (seconds < -62135596800n || seconds > 253402300799n) return null;
  const s = Number(seconds);
  const days = Math.floor(s / 86400);
  const rest = s - days * 86400;
  const hh = Math.floor(rest / 3600);
  const mm = Math.floor((rest % 3600) / 60);
  return `${civilDate(days)}T${pad2(hh)}:${pad2(mm)}:${pad2(rest % 60)}`;
}

function fraction(value: bigint, digits: number): string {
  if (value === 0n) return '';
  return `.${value.toString().padStart(digits, '0').replace(/0+$/, '')}`;
}

/** Splits `value` (in units of 1/perSecond s) into floored seconds and a non-negative rest. */
function splitSeconds(value: bigint, perSecond: bigint): [bigint, bigint] {
  let seconds = value / perSecond;
  let rest = value % perSecond;
  if (rest < 0n) {
    rest += perSecond;
    seconds -= 1n;
  }
  return [seconds, rest];
}

function isoTimestamp(
  value: bigint,
  perSecond: bigint,
  digits: number,
  zone: string,
  fallback: () => string,
): string {
  const [seconds, rest] = splitSeconds(value, perSecond);
  const base = isoSeconds(seconds);
  return base === null ? fallback() : `${base}${fraction(rest, digits)}${zone}`;
}

export function isoDate(days: number, fallback: () => string): string {
  return days < -719162 || days > 2932896 ? fallback() : civilDate(days);
}

export function isoDuration(months: number, days: number, micros: bigint): string {
  const years = Math.trunc(months / 12);
  const restMonths = months % 12;
  const hours = micros / 3_600_000_000n;
  const minutes = (micros % 3_600_000_000n) / 60_000_000n;
  const secMicros = micros % 60_000_000n;
  let out = 'P';
  if (years !== 0) out += `${years}Y`;
  if (restMonths !== 0) out += `${restMonths}M`;
  if (days !== 0) out += `${days}D`;
  let time = '';
  if (hours !== 0n) time += `${hours}H`;
  if (minutes !== 0n) time += `${minutes}M`;
  if (secMicros !== 0n) {
    const negative = secMicros < 0n;
    const abs = negative ? -secMicros : secMicros;
    time += `${negative ? '-' : ''}${abs / MICROS_PER_SECOND}${fraction(abs % MICROS_PER_SECOND, 6)}S`;
  }
  if (time) out += `T${time}`;
  return out === 'P' ? 'PT0S' : out;
}

type EncoderFactory = (type: DuckDBType) => JsonEncoder;

const asNumber: EncoderFactory = () => (v) => v as number;
const asSafeInteger: EncoderFactory = () => (v) => safeInteger(v as bigint);
const asText: EncoderFactory = () => (v) => String(v);

function timestampEncoder(
  get: (v: DuckDBValue) => bigint,
  perSecond: bigint,
  digits: number,
  zone: string,
): EncoderFactory {
  return () => (v) => isoTimestamp(get(v), perSecond, digits, zone, () => String(v));
}

const encoderFactories: Record<DuckDBTypeId, EncoderFactory> = {
  [DuckDBTypeId.INVALID]: unsupported,
  [DuckDBTypeId.BOOLEAN]: () => (v) => v as boolean,
  [DuckDBTypeId.TINYINT]: asNumber,
  [DuckDBTypeId.SMALLINT]: asNumber,
  [DuckDBTypeId.INTEGER]: asNumber,
  [DuckDBTypeId.BIGINT]: asSafeInteger,
  [DuckDBTypeId.UTINYINT]: asNumber,
  [DuckDBTypeId.USMALLINT]: asNumber,
  [DuckDBTypeId.UINTEGER]: asNumber,
  [DuckDBTypeId.UBIGINT]: asSafeInteger,
  [DuckDBTypeId.HUGEINT]: asSafeInteger,
  [DuckDBTypeId.UHUGEINT]: asSafeInteger,
  [DuckDBTypeId.BIGNUM]: asSafeInteger,
  [DuckDBTypeId.FLOAT]: () => (v) => floatToJson(v as number),
  [DuckDBTypeId.DOUBLE]: () => (v) => doubleToJson(v as number),
  [DuckDBTypeId.DECIMAL]: () => (v) => {
    const d = v as DuckDBDecimalValue;
    return decimalToJson(d.value, d.scale);
  },
  [DuckDBTypeId.VARCHAR]: () => (v) => v as string,
  [DuckDBTypeId.ENUM]: asText,
  [DuckDBTypeId.UUID]: asText,
  [DuckDBTypeId.BIT]: asText,
  [DuckDBTypeId.TIME]: asText,
  [DuckDBTypeId.TIME_NS]: asText,
  [DuckDBTypeId.TIME_TZ]: asText,
  [DuckDBTypeId.GEOMETRY]: asText,
  [DuckDBTypeId.BLOB]: () => (v) => Buffer.from((v as DuckDBBlobValue).bytes).toString('base64'),
  [DuckDBTypeId.DATE]: () => (v) => isoDate((v as DuckDBDateValue).days, () => String(v)),
  [DuckDBTypeId.TIMESTAMP]: timestampEncoder(
    (v) => (v as DuckDBTimestampValue).micros,
    MICROS_PER_SECOND,
    6,
    '',
  ),
  [DuckDBTypeId.TIMESTAMP_TZ]: timestampEncoder(
    (v) => (v as DuckDBTimestampTZValue).micros,
    MICROS_PER_SECOND,
    6,
    'Z',
  ),
  [DuckDBTypeId.TIMESTAMP_S]: timestampEncoder(
    (v) => (v as DuckDBTimestampSecondsValue).seconds,
    1n,
    0,
    '',
  ),
  [DuckDBTypeId.TIMESTAMP_MS]: timestampEncoder(
    (v) => (v as DuckDBTimestampMillisecondsValue).millis,
    1000n,
    3,
    '',
  ),
  [DuckDBTypeId.TIMESTAMP_NS]: timestampEncoder(
    (v) => (v as DuckDBTimestampNanosecondsValue).nanos,
    1_000_000_000n,
    9,
    '',
  ),
  [DuckDBTypeId.INTERVAL]: () => (v) => {
    const i = v as DuckDBIntervalValue;
    return isoDuration(i.months, i.days, i.micros);
  },
  [DuckDBTypeId.LIST]: (type) => {
    const item = jsonEncoderFor((type as DuckDBListType).valueType);
    return (v) => (v as DuckDBListValue).items.map(item);
  },
  [DuckDBTypeId.ARRAY]: (type) => {
    const item = jsonEncoderFor((type as DuckDBArrayType).valueType);
    return (v) => (v as DuckDBArrayValue).items.map(item);
  },
  [DuckDBTypeId.STRUCT]: (type) => {
    const t = type as DuckDBStructType;
    const fields = t.entryNames.map((name, i) => [name, jsonEncoderFor(t.entryTypes[i]!)] as const);
    return (v) => {
      const entries = (v as DuckDBStructValue).entries;
      const out: { [k: string]: JsonValue } = {};
      for (const [name, enc] of fields) out[name] = enc(entries[name] ?? null);
      return out;
    };
  },
  [DuckDBTypeId.MAP]: (type) => {
    const t = type as DuckDBMapType;
    const key = jsonEncoderFor(t.keyType);
    const value = jsonEncoderFor(t.valueType);
    return (v) => (v as DuckDBMapValue).entries.map((e) => [key(e.key), value(e.value)]);
  },
  [DuckDBTypeId.UNION]: (type) => {
    const t = type as DuckDBUnionType;
    const members = new Map(t.memberTags.map((tag, i) => [tag, jsonEncoderFor(t.memberTypes[i]!)]));
    return (v) => {
      const u = v as DuckDBUnionValue;
      const enc = members.get(u.tag);
      return enc ? enc(u.value) : null;
    };
  },
  // VARIANT values carry their own types; DuckDB's JSON converter already yields strings for
  // wide integers.
  [DuckDBTypeId.VARIANT]: (type) => (v) =>
    JsonDuckDBValueConverter(v, type, JsonDuckDBValueConverter) as JsonValue,
  [DuckDBTypeId.SQLNULL]: () => () => null,
  [DuckDBTypeId.ANY]: unsupported,
  [DuckDBTypeId.STRING_LITERAL]: unsupported,
  [DuckDBTypeId.INTEGER_LITERAL]: unsupported,
};

function unsupported(type: DuckDBType): JsonEncoder {
  throw new Error(`no JSON encoding for DuckDB type id ${type.typeId}`);
}

/** Builds the encoder for a column type. @throws Error for a type with no encoding. */
export function jsonEncoderFor(type: DuckDBType): JsonEncoder {
  const factory = encoderFactories[type.typeId];
  if (factory === undefined) return unsupported(type);
  const encode = factory(type);
  return (v) => (v === null || v === undefined ? null : encode(v));
}
