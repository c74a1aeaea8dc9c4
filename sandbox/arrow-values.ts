/**
 * DuckDB result chunks to Arrow record batches, built straight into typed arrays (no per-value
 * builder calls). The Arrow type of each column follows from its DuckDB type alone, so every
 * batch of one result shares a schema.
 *
 * Mapping: integers, floats, BOOLEAN, DATE (DateDay), TIME (TimeMicrosecond/Nanosecond),
 * TIMESTAMP family (Timestamp with the matching unit; TIMESTAMPTZ with timezone 'UTC'),
 * DECIMAL(p,s) (Decimal128), INTERVAL (IntervalMonthDayNano), VARCHAR/ENUM/UUID (Utf8),
 * BLOB (Binary), LIST (List), ARRAY (FixedSizeList), STRUCT (Struct), MAP (Map), NULL (Null).
 * HUGEINT, UHUGEINT and BIGNUM become Utf8 decimal strings (Arrow has no 128-bit integer and
 * Decimal128 holds only 38 digits); BIT, TIME WITH TIME ZONE, GEOMETRY become DuckDB's text;
 * UNION and VARIANT become Utf8 holding the JSON encoding of the value.
 */

import type {
  DuckDBArrayType,
  DuckDBArrayValue,
  DuckDBBlobValue,
  DuckDBDateValue,
  DuckDBDecimalType,
  DuckDBDecimalValue,
  DuckDBIntervalValue,
  DuckDBListType,
  DuckDBListValue,
  DuckDBMapType,
  DuckDBMapValue,
  DuckDBStructType,
  DuckDBStructValue,
  DuckDBTimeNSValue,
  DuckDBTimestampMillisecondsValue,
  DuckDBTimestampNanosecondsValue,
  DuckDBTimestampSecondsValue,
  DuckDBTimestampTZValue,
  DuckDBTimestampValue,
  DuckDBTimeValue,
  DuckDBType,
  DuckDBValue,
} from '@duckdb/node-api';
import { DuckDBTypeId } from '@duckdb/node-api';
import {
  Binary,
  Bool,
  type Data,
  type DataType,
  DateDay,
  Decimal,
  Field,
  FixedSizeList,
  Float32,
  Float64,
  Int8,
  Int16,
  Int32,
  Int64,
  IntervalMonthDayNano,
  List,
  Map_,
  makeData,
  Null,
  RecordBatch,
  Schema,
  Struct,
  TimeMicrosecond,
  TimeNanosecond,
  TimestampMicrosecond,
  TimestampMillisecond,
  TimestampNanosecond,
  TimestampSecond,
  Uint8,
  Uint16,
  Uint32,
  Uint64,
  Utf8,
} from 'apache-arrow';
import { jsonEncoderFor } from './json-values.ts';

type Values = readonly DuckDBValue[];

/** How one DuckDB column type becomes Arrow data. */
export interface ArrowColumn {
  readonly type: DataType;
  build(values: Values): Data;
}

interface Validity {
  readonly nullBitmap?: Uint8Array;
  readonly nullCount: number;
}

function validity(values: Values): Validity {
  let nullCount = 0;
  const bitmap = new Uint8Array((values.length + 7) >> 3);
  for (let i = 0; i < values.length; i++) {
    if (values[i] === null || values[i] === undefined) nullCount++;
    else bitmap[i >> 3]! |= 1 << (i & 7);
  }
  return nullCount === 0 ? { nullCount } : { nullBitmap: bitmap, nullCount };
}

type TypedArray =
  | Int8Array
  | Int16Array
  | Int32Array
  | Uint8Array
  | Uint16Array
  | Uint32Array
  | Float32Array
  | Float64Array;

/** A fixed-width column: one typed array of values plus a validity bitmap. */
function fixedWidth<T extends number | bigint>(
  type: DataType,
  Ctor: new (n: number) => { [i: number]: T },
  get: (v: DuckDBValue) => T,
): ArrowColumn {
  return {
    type,
    build(values) {
      const data = new Ctor(values.length);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) data[i] = get(v);
      }
      return makeData({ type, length: values.length, ...validity(values), data } as never);
    },
  };
}

function numeric(
  type: DataType,
  Ctor: new (n: number) => TypedArray,
  get: (v: DuckDBValue) => number = (v) => v as number,
): ArrowColumn {
  return fixedWidth<number>(type, Ctor as new (n: number) => { [i: number]: number }, get);
}

function wide(
  type: DataType,
  Ctor: BigInt64ArrayConstructor | BigUint64ArrayConstructor,
  get: (v: DuckDBValue) => bigint,
): ArrowColumn {
  return fixedWidth<bigint>(type, Ctor, get);
}

function variableWidth(type: Utf8 | Binary, bytesOf: (v: DuckDBValue) => Uint8Array): ArrowColumn {
  return {
    type,
    build(values) {
      const offsets = new Int32Array(values.length + 1);
      const parts: Uint8Array[] = [];
      let total = 0;
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) {
          const b = bytesOf(v);
          parts.push(b);
          total += b.length;
        }
        offsets[i + 1] = total;
      }
      const data = Buffer.concat(parts, total);
      return makeData({
        type,
        length: values.length,
        ...validity(values),
        valueOffsets: offsets,
        data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      } as never);
    },
  };
}

function utf8(toText: (v: DuckDBValue) => string): ArrowColumn {
  return variableWidth(new Utf8(), (v) => Buffer.from(toText(v), 'utf8'));
}

const TWO_32 = 0x1_0000_0000n;

function decimal(type: DuckDBDecimalType): ArrowColumn {
  const arrowType = new Decimal(type.scale, type.width, 128);
  return {
    type: arrowType,
    build(values) {
      const words = new Uint32Array(values.length * 4);
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v === null || v === undefined) continue;
        let x = BigInt.asUintN(128, (v as DuckDBDecimalValue).value);
        for (let k = 0; k < 4; k++) {
          words[i * 4 + k] = Number(x % TWO_32);
          x /= TWO_32;
        }
      }
      return makeData({
        type: arrowType,
        length: values.length,
        ...validity(values),
        data: words,
      });
    },
  };
}

function interval(): ArrowColumn {
  const type = new IntervalMonthDayNano();
  return {
    type,
    build(values) {
      const data = new Int32Array(values.length * 4);
      for (let i = 0; i < values.length; i++) {
        const v = values[i] as DuckDBIntervalValue | null;
        if (v === null || v === undefined) continue;
        const nanos = BigInt.asUintN(64, v.micros * 1000n);
        data[i * 4] = v.months;
        data[i * 4 + 1] = v.days;
        data[i * 4 + 2] = Number(nanos % TWO_32);
        data[i * 4 + 3] = Number(nanos / TWO_32);
      }
      return makeData({ type, length: values.length, ...validity(values), data });
    },
  };
}

function listLike(
  child: ArrowColumn,
  type: DataType,
  itemsOf: (v: DuckDBValue) => readonly DuckDBValue[],
  fixedSize: number | null,
): ArrowColumn {
  return {
    type,
    build(values) {
      const offsets = new Int32Array(values.length + 1);
      const flat: DuckDBValue[] = [];
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) flat.push(...itemsOf(v));
        else if (fixedSize !== null) for (let k = 0; k < fixedSize; k++) flat.push(null);
        offsets[i + 1] = flat.length;
      }
      const childData = child.build(flat);
      const props = { type, length: values.length, ...validity(values), child: childData };
      return makeData((fixedSize === null ? { ...props, valueOffsets: offsets } : props) as never);
    },
  };
}

function struct(type: DuckDBStructType): ArrowColumn {
  const children = type.entryTypes.map(arrowColumnFor);
  const arrowType = new Struct(
    type.entryNames.map((name, i) => new Field(name, children[i]!.type, true)),
  );
  return {
    type: arrowType,
    build(values) {
      const datas = type.entryNames.map((name, c) =>
        children[c]!.build(
          values.map((v) =>
            v === null || v === undefined ? null : ((v as DuckDBStructValue).entries[name] ?? null),
          ),
        ),
      );
      return makeData({
        type: arrowType,
        length: values.length,
        ...validity(values),
        children: datas,
      });
    },
  };
}

function map(type: DuckDBMapType): ArrowColumn {
  const key = arrowColumnFor(type.keyType);
  const value = arrowColumnFor(type.valueType);
  const entriesType = new Struct([
    new Field('key', key.type, false),
    new Field('value', value.type, true),
  ]);
  const arrowType = new Map_(new Field('entries', entriesType, false), false);
  return {
    type: arrowType,
    build(values) {
      const offsets = new Int32Array(values.length + 1);
      const keys: DuckDBValue[] = [];
      const vals: DuckDBValue[] = [];
      for (let i = 0; i < values.length; i++) {
        const v = values[i];
        if (v !== null && v !== undefined) {
          for (const e of (v as DuckDBMapValue).entries) {
            keys.push(e.key);
            vals.push(e.value);
          }
        }
        offsets[i + 1] = keys.length;
      }
      const child = makeData({
        type: entriesType,
        length: keys.length,
        nullCount: 0,
        children: [key.build(keys), value.build(vals)],
      });
      return makeData({
        type: arrowType,
        length: values.length,
        ...validity(values),
        valueOffsets: offsets,
        child,
      });
    },
  };
}

function jsonText(type: DuckDBType): ArrowColumn {
  const encode = jsonEncoderFor(type);
  return utf8((v) => JSON.stringify(encode(v)));
}

type ColumnFactory = (type: DuckDBType) => ArrowColumn;

const columnFactories: Record<DuckDBTypeId, ColumnFactory> = {
  [DuckDBTypeId.INVALID]: unsupported,
  [DuckDBTypeId.ANY]: unsupported,
  [DuckDBTypeId.STRING_LITERAL]: unsupported,
  [DuckDBTypeId.INTEGER_LITERAL]: unsupported,
  [DuckDBTypeId.SQLNULL]: () => {
    const type = new Null();
    return { type, build: (values) => makeData({ type, length: values.length }) };
  },
  [DuckDBTypeId.BOOLEAN]: () => {
    const type = new Bool();
    return {
      type,
      build(values) {
        const data = new Uint8Array((values.length + 7) >> 3);
        for (let i = 0; i < values.length; i++)
          if (values[i] === true) data[i >> 3]! |= 1 << (i & 7);
        return makeData({ type, length: values.length, ...validity(values), data });
      },
    };
  },
  [DuckDBTypeId.TINYINT]: () => numeric(new Int8(), Int8Array),
  [DuckDBTypeId.SMALLINT]: () => numeric(new Int16(), Int16Array),
  [DuckDBTypeId.INTEGER]: () => numeric(new Int32(), Int32Array),
  [DuckDBTypeId.BIGINT]: () => wide(new Int64(), BigInt64Array, (v) => v as bigint),
  [DuckDBTypeId.UTINYINT]: () => numeric(new Uint8(), Uint8Array),
  [DuckDBTypeId.USMALLINT]: () => numeric(new Uint16(), Uint16Array),
  [DuckDBTypeId.UINTEGER]: () => numeric(new Uint32(), Uint32Array),
  [DuckDBTypeId.UBIGINT]: () => wide(new Uint64(), BigUint64Array, (v) => v as bigint),
  [DuckDBTypeId.HUGEINT]: () => utf8(String),
  [DuckDBTypeId.UHUGEINT]: () => utf8(String),
  [DuckDBTypeId.BIGNUM]: () => utf8(String),
  [DuckDBTypeId.FLOAT]: () => numeric(new Float32(), Float32Array),
  [DuckDBTypeId.DOUBLE]: () => numeric(new Float64(), Float64Array),
  [DuckDBTypeId.DECIMAL]: (t) => decimal(t as DuckDBDecimalType),
  [DuckDBTypeId.VARCHAR]: () => utf8((v) => v as string),
  [DuckDBTypeId.ENUM]: () => utf8(String),
  [DuckDBTypeId.UUID]: () => utf8(String),
  [DuckDBTypeId.BIT]: () => utf8(String),
  [DuckDBTypeId.TIME_TZ]: () => utf8(String),
  [DuckDBTypeId.GEOMETRY]: () => utf8(String),
  [DuckDBTypeId.UNION]: jsonText,
  [DuckDBTypeId.VARIANT]: jsonText,
  [DuckDBTypeId.BLOB]: () => variableWidth(new Binary(), (v) => (v as DuckDBBlobValue).bytes),
  [DuckDBTypeId.DATE]: () => numeric(new DateDay(), Int32Array, (v) => (v as DuckDBDateValue).days),
  [DuckDBTypeId.TIME]: () =>
    wide(new TimeMicrosecond(), BigInt64Array, (v) => (v as DuckDBTimeValue).micros),
  [DuckDBTypeId.TIME_NS]: () =>
    wide(new TimeNanosecond(), BigInt64Array, (v) => (v as DuckDBTimeNSValue).nanos),
  [DuckDBTypeId.TIMESTAMP]: () =>
    wide(new TimestampMicrosecond(), BigInt64Array, (v) => (v as DuckDBTimestampValue).micros),
  [DuckDBTypeId.TIMESTAMP_TZ]: () =>
    wide(
      new TimestampMicrosecond('UTC'),
      BigInt64Array,
      (v) => (v as DuckDBTimestampTZValue).micros,
    ),
  [DuckDBTypeId.TIMESTAMP_S]: () =>
    wide(new TimestampSecond(), BigInt64Array, (v) => (v as DuckDBTimestampSecondsValue).seconds),
  [DuckDBTypeId.TIMESTAMP_MS]: () =>
    wide(
      new TimestampMillisecond(),
      BigInt64Array,
      (v) => (v as DuckDBTimestampMillisecondsValue).millis,
    ),
  [DuckDBTypeId.TIMESTAMP_NS]: () =>
    wide(
      new TimestampNanosecond(),
      BigInt64Array,
      (v) => (v as DuckDBTimestampNanosecondsValue).nanos,
    ),
  [DuckDBTypeId.INTERVAL]: interval,
  [DuckDBTypeId.LIST]: (t) => {
    const child = arrowColumnFor((t as DuckDBListType).valueType);
    return listLike(
      child,
      new List(new Field('item', child.type, true)),
      (v) => (v as DuckDBListValue).items,
      null,
    );
  },
  [DuckDBTypeId.ARRAY]: (t) => {
    const a = t as DuckDBArrayType;
    const child = arrowColumnFor(a.valueType);
    return listLike(
      child,
      new FixedSizeList(a.length, new Field('item', child.type, true)),
      (v) => (v as DuckDBArrayValue).items,
      a.length,
    );
  },
  [DuckDBTypeId.STRUCT]: (t) => struct(t as DuckDBStructType),
  [DuckDBTypeId.MAP]: (t) => map(t as DuckDBMapType),
};

function unsupported(type: DuckDBType): ArrowColumn {
  throw new Error(`no Arrow encoding for DuckDB type id ${type.typeId}`);
}

/** @throws Error for a DuckDB type with no Arrow encoding. */
export function arrowColumnFor(type: DuckDBType): ArrowColumn {
  const factory = columnFactories[type.typeId];
  return factory === undefined ? unsupported(type) : factory(type);
}

/** The Arrow schema and per-column encoders of one result. */
export interface ArrowLayout {
  readonly schema: Schema;
  readonly columns: readonly ArrowColumn[];
}

export function arrowLayout(names: readonly string[], types: readonly DuckDBType[]): ArrowLayout {
  const columns = types.map(arrowColumnFor);
  const schema = new Schema(names.map((n, i) => new Field(n, columns[i]!.type, true)));
  return { schema, columns };
}

/** One record batch from column-major values (each array holds `length` values). */
export function recordBatch(
  layout: ArrowLayout,
  columnValues: readonly Values[],
  length: number,
): RecordBatch {
  const children = layout.columns.map((c, i) => c.build(columnValues[i]!));
  const data = makeData({
    type: new Struct(layout.schema.fields),
    length,
    nullCount: 0,
    children,
  });
  return new RecordBatch(layout.schema, data);
}
