/**
 * SQL expressions for deterministic pseudo-random values. Every draw is DuckDB's `hash()` of a
 * stream number and a row key, a pure function of its inputs, so the generated data does not
 * depend on thread scheduling the way `random()` does. The values are stable for a given DuckDB
 * version (the generator records it in `sluice_meta`).
 *
 * All inputs are generator constants, never user text.
 */

/** A SQL string literal. */
export function sqlString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** A SQL list literal of strings. */
export function sqlStringList(values: readonly string[]): string {
  return `[${values.map(sqlString).join(', ')}]`;
}

/** A SQL list literal of numbers. */
export function sqlNumberList(values: readonly number[]): string {
  return `[${values.join(', ')}]`;
}

/**
 * The raw 64-bit draw (UBIGINT). `key` is a comma-separated list of SQL expressions that is
 * unique per row; distinct `stream` numbers give independent draws for the same row.
 * The outer hash matters: DuckDB combines the hashes of several arguments linearly, so
 * `hash(1, k)` and `hash(2, k)` differ by a constant XOR (same parity, same low bits) and
 * would give perfectly correlated draws; re-hashing mixes them apart.
 */
export function draw(stream: number, key: string): string {
  return `hash(hash(${stream}, ${key}))`;
}

/** A uniform integer in [lo, hi] (BIGINT). */
export function randInt(stream: number, key: string, lo: number, hi: number): string {
  const span = hi - lo + 1;
  if (!Number.isSafeInteger(span) || span < 1) throw new RangeError(`bad range [${lo}, ${hi}]`);
  return `(${lo} + (${draw(stream, key)} % ${span})::BIGINT)`;
}

/** A uniform double in [0, 1), from the top 53 bits so it can never round up to 1. */
export function randUnit(stream: number, key: string): string {
  return `((${draw(stream, key)} >> 11)::DOUBLE / 9007199254740992.0)`;
}

/** A standard normal double (Box–Muller over two independent uniform draws). */
export function randNormal(stream: number, key: string): string {
  const u1 = `(1.0 - ${randUnit(stream, key)})`; // (0, 1]: ln stays finite
  const u2 = randUnit(stream + 1_000_000, key);
  return `(sqrt(-2.0 * ln(${u1})) * cos(2.0 * pi() * ${u2}))`;
}

/** One element of a constant string list, uniformly. */
export function randPick(stream: number, key: string, values: readonly string[]): string {
  return `${sqlStringList(values)}[${randInt(stream, key, 1, values.length)}]`;
}

/**
 * A 1-based index into `weights` (positive integers), drawn in proportion to the weights. Uses
 * a lookup list with one slot per unit of weight, so keep the total to a few thousand.
 */
export function randWeightedIndex(stream: number, key: string, weights: readonly number[]): string {
  const slots: number[] = [];
  weights.forEach((w, i) => {
    if (!Number.isInteger(w) || w <= 0)
      throw new RangeError(`weight ${w} must be a positive integer`);
    for (let k = 0; k < w; k++) slots.push(i + 1);
  });
  return `${sqlNumberList(slots)}[${randInt(stream, key, 1, slots.length)}]`;
}

/** One of `entries`' values, drawn in proportion to its weight. */
export function randWeighted(
  stream: number,
  key: string,
  entries: readonly (readonly [string, number])[],
): string {
  const index = randWeightedIndex(
    stream,
    key,
    entries.map(([, w]) => w),
  );
  return `${sqlStringList(entries.map(([v]) => v))}[${index}]`;
}
