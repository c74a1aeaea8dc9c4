import { deny } from '../gateway/errors.ts';
import type { ColumnRule, RelationGrant, Scope } from './policy-types.ts';
import { foldName, shownName } from './sql-lex.ts';
import type { ColumnRef, TableRef } from './sql-tree.ts';

/**
 * Name scopes for the checker: which relations a query block sees (its FROM, then the blocks
 * around it), which CTE names are in force, and what a table or column name refers to.
 * Names compare case-insensitively (ASCII letters only), quoted or not, as in DuckDB.
 *
 * The resolver is deliberately generous about what a block can see (an ON condition sees
 * every FROM item to its left, a derived table sees the FROM items before it, select-list
 * aliases are candidates everywhere in their block): a name it resolves uniquely is resolved
 * the same way by DuckDB or not at all. Every other candidate a name could have meant is
 * reported as `shadowed`, so the checker can refuse a reference that might mean an
 * aggregate-only column.
 */

export interface BaseSource {
  readonly dataset: string;
  readonly column: string;
  readonly rule: ColumnRule;
  /** DuckDB type of the value a query reads: the stored type, or the mask's result type. */
  readonly valueType: string;
}

export interface ColumnInfo {
  /** Output name; undefined for an unnamed expression (not referable). */
  readonly name: string | undefined;
  /** Set when the column is a stored column of a policy relation (masked in its CTE). */
  readonly base?: BaseSource;
}

export interface Relation {
  /** Qualifier as written, '' when the relation cannot be qualified (unaliased subquery). */
  readonly alias: string;
  readonly columns: readonly ColumnInfo[];
  /** The base-table reference this relation comes from, with its grant. */
  readonly ref?: TableRef;
  readonly grant?: RelationGrant;
}

export interface Member {
  readonly relation: Relation;
  readonly column: ColumnInfo;
}

/** Columns joined by USING: one name, several members. */
export interface MergeGroup {
  readonly key: string;
  readonly members: readonly Member[];
}

export type LevelKind = 'block' | 'lateral' | 'on' | 'output';

/** One level of name scope: a query block's FROM, or a narrower view of one. */
export class Level {
  /** block: a query block's FROM; lateral/on: the FROM items a derived table or ON sees; output: a set operation's columns. */
  readonly kind: LevelKind;
  readonly parent: Level | undefined;
  readonly relations: Relation[];
  merges: MergeGroup[];
  /** Case-folded select-list aliases of the block. */
  readonly aliases: Set<string>;

  constructor(kind: LevelKind, parent: Level | undefined, relations: Relation[] = []) {
    this.kind = kind;
    this.parent = parent;
    this.relations = relations;
    this.merges = [];
    this.aliases = new Set();
  }
}

export type Binding =
  | { readonly kind: 'column'; readonly level: Level; readonly member: Member }
  | { readonly kind: 'merged'; readonly level: Level; readonly members: readonly Member[] }
  | { readonly kind: 'alias'; readonly level: Level };

export interface Lookup {
  readonly binding: Binding;
  /** Every other column the name could denote at any visible level. */
  readonly shadowed: readonly Member[];
}

const lower = foldName;

function describe(ref: ColumnRef): string {
  return ref.table === undefined
    ? shownName(ref.name)
    : `${shownName(ref.table)}.${shownName(ref.name)}`;
}

type Candidate =
  | { readonly kind: 'member'; readonly member: Member }
  | { readonly kind: 'merged'; readonly group: MergeGroup };

/** Unqualified candidates for `key` at one level, USING-merged columns counted once. */
function unqualifiedAt(level: Level, key: string): Candidate[] {
  const out: Candidate[] = [];
  const groups = level.merges.filter((g) => g.key === key);
  for (const g of groups) out.push({ kind: 'merged', group: g });
  for (const relation of level.relations) {
    for (const column of relation.columns) {
      if (column.name === undefined || lower(column.name) !== key) continue;
      if (groups.some((g) => g.members.some((m) => m.relation === relation && m.column === column)))
        continue;
      out.push({ kind: 'member', member: { relation, column } });
    }
  }
  return out;
}

function qualifiedAt(
  level: Level,
  qualifier: string,
  key: string,
): { relations: Relation[]; members: Member[] } {
  const relations = level.relations.filter((r) => r.alias !== '' && lower(r.alias) === qualifier);
  const members: Member[] = [];
  for (const relation of relations) {
    for (const column of relation.columns) {
      if (column.name !== undefined && lower(column.name) === key)
        members.push({ relation, column });
    }
  }
  return { relations, members };
}

function membersOf(c: Candidate): readonly Member[] {
  return c.kind === 'member' ? [c.member] : c.group.members;
}

/**
 * Resolves a column reference from `start` outwards. `preferAlias` is for a bare ORDER BY
 * item, where DuckDB binds a select-list alias before a column. Throws POLICY_DENIED for an
 * unknown or ambiguous name.
 */
export function lookupColumn(start: Level, ref: ColumnRef, preferAlias: boolean): Lookup {
  const key = lower(ref.name);
  let binding: Binding | undefined;
  const shadowed: Member[] = [];
  if (ref.table !== undefined) {
    const qualifier = lower(ref.table);
    for (let level: Level | undefined = start; level; level = level.parent) {
      const { relations, members } = qualifiedAt(level, qualifier, key);
      if (relations.length === 0) continue;
      if (binding) {
        shadowed.push(...members);
        continue;
      }
      if (relations.length > 1)
        throw deny.policy(`table name ${shownName(ref.table)} is ambiguous`);
      if (members.length === 0) throw deny.policy(`unknown column ${describe(ref)}`);
      if (members.length > 1) throw deny.policy(`column ${describe(ref)} is ambiguous`);
      binding = { kind: 'column', level, member: members[0]! };
    }
    if (!binding) throw deny.policy(`unknown table or alias ${shownName(ref.table)}`);
    return { binding, shadowed };
  }
  for (let level: Level | undefined = start; level; level = level.parent) {
    const candidates = unqualifiedAt(level, key);
    if (binding) {
      for (const c of candidates) shadowed.push(...membersOf(c));
      continue;
    }
    if (preferAlias && level === start && level.aliases.has(key)) {
      // DuckDB binds a bare ORDER BY name to the select-list alias first, for certain.
      binding = { kind: 'alias', level };
      continue;
    }
    if (candidates.length > 1) throw deny.policy(`column ${shownName(ref.name)} is ambiguous`);
    const only = candidates[0];
    if (only) {
      binding =
        only.kind === 'member'
          ? { kind: 'column', level, member: only.member }
          : { kind: 'merged', level, members: only.group.members };
      continue;
    }
    if (level.aliases.has(key)) binding = { kind: 'alias', level };
  }
  if (!binding) throw deny.policy(`unknown column ${shownName(ref.name)}`);
  return { binding, shadowed };
}

/** Candidates for an unqualified USING column on one side of a join. */
export function usingMember(
  relations: readonly Relation[],
  merges: readonly MergeGroup[],
  name: string,
): Member[] {
  const probe = new Level('on', undefined, [...relations]);
  probe.merges = merges.filter((g) => g.members.every((m) => relations.includes(m.relation)));
  const candidates = unqualifiedAt(probe, lower(name));
  if (candidates.length === 0) throw deny.policy(`unknown column ${shownName(name)} in USING`);
  if (candidates.length > 1) throw deny.policy(`column ${shownName(name)} in USING is ambiguous`);
  return [...membersOf(candidates[0]!)];
}

// ---------------------------------------------------------------- CTE scopes

export interface CteDef {
  readonly name: string;
  readonly columns: readonly ColumnInfo[];
}

/** CTE names in force; a WITH list extends the scope one name at a time. */
export class CteScope {
  readonly parent: CteScope | undefined;
  readonly key: string;
  readonly def: CteDef | undefined;

  constructor(parent: CteScope | undefined, def?: CteDef) {
    this.parent = parent;
    this.def = def;
    this.key = def ? lower(def.name) : '';
  }

  with(def: CteDef): CteScope {
    return new CteScope(this, def);
  }

  find(name: string): CteDef | undefined {
    const key = lower(name);
    for (let s: CteScope | undefined = this; s; s = s.parent)
      if (s.def && s.key === key) return s.def;
    return undefined;
  }
}

// ---------------------------------------------------------------- tables

export type TableTarget =
  | { readonly kind: 'cte'; readonly def: CteDef }
  | { readonly kind: 'base'; readonly grant: RelationGrant };

/**
 * What a table name denotes: a CTE in scope, else a granted dataset. Throws NOT_LICENSED for a
 * dataset the principal could apply for, POLICY_DENIED "unknown table" for anything else (so
 * non-open datasets are indistinguishable from names that do not exist).
 */
export function resolveTable(ref: TableRef, ctes: CteScope, scope: Scope): TableTarget {
  const def = ctes.find(ref.name);
  if (def) return { kind: 'cte', def };
  const key = lower(ref.name);
  const grant = scope.relations.get(key);
  if (grant) return { kind: 'base', grant };
  if (scope.unlicensed.has(key))
    throw deny.notLicensed(`no agreement grants access to dataset ${key}`);
  throw deny.policy(`unknown table ${shownName(ref.name)}`);
}

/** The type a column's value has after its rule's mask (shaped-relation.ts renders them). */
function maskedType(rule: ColumnRule, stored: string): string {
  switch (rule.kind) {
    case 'redact':
    case 'hash':
    case 'partial':
      return 'VARCHAR';
    case 'generalize':
      return 'DATE';
    case 'bucket':
      return 'DOUBLE';
    default:
      return stored;
  }
}

export function baseRelation(ref: TableRef, grant: RelationGrant): Relation {
  return {
    alias: ref.alias ?? ref.name,
    columns: grant.columns.map((c) => ({
      name: c.name,
      base: {
        dataset: grant.dataset,
        column: c.name,
        rule: c.rule,
        valueType: maskedType(c.rule, c.type),
      },
    })),
    ref,
    grant,
  };
}

/** Applies a column alias list: renames the first columns in order. */
export function renameColumns(
  columns: readonly ColumnInfo[],
  names: readonly string[] | undefined,
): ColumnInfo[] {
  if (!names) return [...columns];
  if (names.length > columns.length) throw deny.policy('more column aliases than columns');
  return columns.map((c, i) => (i < names.length ? { ...c, name: names[i] } : c));
}
