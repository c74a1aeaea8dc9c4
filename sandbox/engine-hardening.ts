/**
 * The hardened engine configuration: what is set at instance creation, what is SET after the
 * dataset file is attached, and the pure verification of the settings read back from
 * `duckdb_settings()`. A worker refuses to serve unless every check here passes, and the pool
 * re-checks the worker's read-back independently.
 */

export interface HardeningConfig {
  /** Absolute path of the read-only dataset file. */
  readonly dbPath: string;
  readonly dataCatalog: string;
  /** This worker's own spill directory (absolute). */
  readonly tempDir: string;
  /** The only directory the engine may write exports into (absolute). */
  readonly exportDir: string;
  readonly threads: number;
  readonly memoryLimit: string;
  readonly maxTempDirectorySize: string;
}

/** Options only settable when the instance is created (and verified afterwards anyway). */
export function startupOptions(): Record<string, string> {
  return {
    allow_unsigned_extensions: 'false',
    allow_community_extensions: 'false',
    allow_extensions_metadata_mismatch: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_persistent_secrets: 'false',
    allow_unredacted_secrets: 'false',
  };
}

const SAFE_PATH = /^\/[A-Za-z0-9._\-/]*$/;
const IDENTIFIER = /^[a-z][a-z0-9_]*$/;

/** Paths and names end up in SQL text; refuse anything that would need quoting tricks. */
export function validateConfig(cfg: HardeningConfig): void {
  for (const [what, p] of [
    ['dbPath', cfg.dbPath],
    ['tempDir', cfg.tempDir],
    ['exportDir', cfg.exportDir],
  ] as const) {
    if (!SAFE_PATH.test(p) || p.split('/').includes('..')) {
      throw new Error(`${what} must be an absolute path of [A-Za-z0-9._-/] characters`);
    }
  }
  if (!IDENTIFIER.test(cfg.dataCatalog)) throw new Error('dataCatalog must match [a-z][a-z0-9_]*');
  if (!Number.isInteger(cfg.threads) || cfg.threads < 1) throw new Error('threads must be >= 1');
  if (parseSize(cfg.memoryLimit) === null) throw new Error('memoryLimit is not a size');
  if (parseSize(cfg.maxTempDirectorySize) === null) {
    throw new Error('maxTempDirectorySize is not a size');
  }
}

function literal(s: string): string {
  return `'${s.replaceAll("'", "''")}'`;
}

/** The ATTACH of the dataset file; runs before external access is switched off. */
export function attachStatement(cfg: HardeningConfig): string {
  return `ATTACH ${literal(cfg.dbPath)} AS "${cfg.dataCatalog}" (READ_ONLY)`;
}

/** SET statements in order; locking the configuration is last. */
export function hardeningStatements(cfg: HardeningConfig): string[] {
  return [
    `SET allowed_directories = [${literal(withSlash(cfg.tempDir))}, ${literal(withSlash(cfg.exportDir))}]`,
    `SET temp_directory = ${literal(cfg.tempDir)}`,
    `SET max_temp_directory_size = ${literal(cfg.maxTempDirectorySize)}`,
    `SET memory_limit = ${literal(cfg.memoryLimit)}`,
    `SET threads = ${cfg.threads}`,
    // Needs the (statically linked) ICU extension, so it cannot be a start-up option.
    "SET TimeZone = 'UTC'",
    'SET enable_external_access = false',
    'SET lock_configuration = true',
  ];
}

/** The settings read back and checked. */
export const verifiedSettingNames = [
  'enable_external_access',
  'lock_configuration',
  'allowed_configs',
  'allow_unsigned_extensions',
  'allow_community_extensions',
  'allow_extensions_metadata_mismatch',
  'autoinstall_known_extensions',
  'autoload_known_extensions',
  'allow_persistent_secrets',
  'allow_unredacted_secrets',
  'autoinstall_extension_repository',
  'custom_extension_repository',
  'allowed_directories',
  'allowed_paths',
  'temp_directory',
  'max_temp_directory_size',
  'memory_limit',
  'threads',
  'log_query_path',
  'file_search_path',
  'TimeZone',
] as const;

export type SettingName = (typeof verifiedSettingNames)[number];

/** One attached database as `duckdb_databases()` reports it. */
export interface AttachedDatabase {
  readonly name: string;
  readonly path: string | null;
  readonly readonly: boolean;
}

function withSlash(p: string): string {
  return p.endsWith('/') ? p : `${p}/`;
}

/** Parses DuckDB list text such as `[/a/, /b/]` (paths are validated to hold no commas). */
function parseList(text: string): string[] {
  const inner = text.trim().replace(/^\[/, '').replace(/\]$/, '').trim();
  return inner === '' ? [] : inner.split(',').map((s) => s.trim());
}

const UNITS: Record<string, number> = {
  b: 1,
  byte: 1,
  bytes: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** Bytes of a DuckDB size text ('512MB', '1.5 GiB', '953.6 MiB'), or null. */
export function parseSize(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i.exec(text);
  if (!m) return null;
  const unit = UNITS[m[2]!.toLowerCase()];
  return unit === undefined ? null : Number(m[1]) * unit;
}

/** DuckDB prints sizes cut to one decimal of their unit (1GB reads '953.6 MiB'). */
function sameSize(readBack: string, wanted: string): boolean {
  const got = parseSize(readBack);
  const want = parseSize(wanted);
  if (got === null || want === null) return false;
  const unit = UNITS[/([a-z]+)\s*$/i.exec(readBack)![1]!.toLowerCase()]!;
  return Math.abs(got - want) < 0.1 * unit + 1;
}

/**
 * Compares the read-back settings and attached databases with the configuration.
 * @returns the names of the checks that failed; empty when the engine is as configured.
 */
export function verifyHardening(
  settings: Readonly<Record<string, string>>,
  databases: readonly AttachedDatabase[],
  cfg: HardeningConfig,
): string[] {
  const failed: string[] = [];
  const expect = (name: SettingName, ok: (v: string) => boolean) => {
    const v = settings[name];
    if (v === undefined || !ok(v)) failed.push(name);
  };
  const is = (want: string) => (v: string) => v === want;
  expect('enable_external_access', is('false'));
  expect('lock_configuration', is('true'));
  expect('allowed_configs', (v) => parseList(v).length === 0);
  expect('allow_unsigned_extensions', is('false'));
  expect('allow_community_extensions', is('false'));
  expect('allow_extensions_metadata_mismatch', is('false'));
  expect('autoinstall_known_extensions', is('false'));
  expect('autoload_known_extensions', is('false'));
  expect('allow_persistent_secrets', is('false'));
  expect('allow_unredacted_secrets', is('false'));
  expect('autoinstall_extension_repository', is(''));
  expect('custom_extension_repository', is(''));
  expect('log_query_path', is(''));
  expect('file_search_path', is(''));
  expect('TimeZone', (v) => v === 'UTC' || v === 'Etc/UTC');
  expect('allowed_directories', (v) => {
    const got = new Set(parseList(v).map(withSlash));
    const want = new Set([withSlash(cfg.tempDir), withSlash(cfg.exportDir)]);
    return got.size === want.size && [...want].every((d) => got.has(d));
  });
  // DuckDB adds the attached file and its WAL companions; nothing else may be there.
  expect('allowed_paths', (v) =>
    parseList(v).every((p) =>
      [
        cfg.dbPath,
        `${cfg.dbPath}.wal`,
        `${cfg.dbPath}.wal.recovery`,
        `${cfg.dbPath}.wal.checkpoint`,
      ].includes(p),
    ),
  );
  expect('temp_directory', is(cfg.tempDir));
  expect('max_temp_directory_size', (v) => sameSize(v, cfg.maxTempDirectorySize));
  expect('memory_limit', (v) => sameSize(v, cfg.memoryLimit));
  expect('threads', is(String(cfg.threads)));

  const byName = new Map(databases.map((d) => [d.name, d]));
  const data = byName.get(cfg.dataCatalog);
  if (data === undefined || !data.readonly || data.path !== cfg.dbPath) failed.push('data catalog');
  const allowed = new Set(['memory', 'system', 'temp', cfg.dataCatalog]);
  if (databases.some((d) => !allowed.has(d.name))) failed.push('attached databases');
  return failed;
}
