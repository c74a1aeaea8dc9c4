import { describe, expect, it } from 'vitest';
import {
  duckdbErrorClass,
  isFatalEngineError,
  wrapEngineError,
} from '../../sandbox/engine-errors.ts';
import {
  type AttachedDatabase,
  type HardeningConfig,
  hardeningStatements,
  parseSize,
  verifyHardening,
} from '../../sandbox/engine-hardening.ts';
import { decimalToJson, floatToJson, isoDuration, safeInteger } from '../../sandbox/json-values.ts';

describe('JSON value rules', () => {
  it('keeps integers exact: number within ±(2^53−1), else string', () => {
    expect(safeInteger(9007199254740991n)).toBe(9007199254740991);
    expect(safeInteger(-9007199254740991n)).toBe(-9007199254740991);
    expect(safeInteger(9007199254740992n)).toBe('9007199254740992');
    expect(safeInteger(-9007199254740993n)).toBe('-9007199254740993');
  });

  it('DECIMAL is a number only when it round-trips exactly', () => {
    expect(decimalToJson(123450n, 2)).toBe(1234.5);
    expect(decimalToJson(-5n, 2)).toBe(-0.05);
    expect(decimalToJson(0n, 2)).toBe(0);
    expect(decimalToJson(1n, 10)).toBe(1e-10);
    expect(decimalToJson(123456789012345n, 2)).toBe(1234567890123.45);
    expect(decimalToJson(1234567890123456789n, 2)).toBe('12345678901234567.89');
    expect(decimalToJson(10n ** 30n, 0)).toBe(1e30);
    expect(decimalToJson(10n ** 30n + 1n, 0)).toBe('1000000000000000000000000000001');
    expect(decimalToJson(-123n, 5)).toBe(-0.00123);
  });

  it('FLOAT uses the shortest decimal of the 32-bit value; non-finite become strings', () => {
    expect(floatToJson(Math.fround(0.1))).toBe(0.1);
    expect(floatToJson(Math.fround(2.71))).toBe(2.71);
    expect(floatToJson(Math.fround(1e-40))).toBe(1e-40);
    expect(floatToJson(Number.NaN)).toBe('NaN');
    expect(floatToJson(Number.NEGATIVE_INFINITY)).toBe('-Infinity');
  });

  it('INTERVAL is an ISO 8601 duration with signed parts', () => {
    expect(isoDuration(14, 3, 14_706_500_000n)).toBe('P1Y2M3DT4H5M6.5S');
    expect(isoDuration(0, -1, 0n)).toBe('P-1D');
    expect(isoDuration(0, 0, 0n)).toBe('PT0S');
    expect(isoDuration(0, 0, -1_500_000n)).toBe('PT-1.5S');
    expect(isoDuration(-13, 0, 60_000_000n)).toBe('P-1Y-1MT1M');
  });
});

describe('engine error wrapping', () => {
  const leaky = [
    "Conversion Error: Could not convert string 'Zhang Wei 13800138000' to INT32",
    'Binder Error: Referenced column "secret_col" not found in FROM clause!',
    'Permission Error: Cannot access file "/etc/passwd" - file system operations are disabled',
    'Failed to extract statements: Parser Error: syntax error at or near "Zhang"',
    'Out of Memory Error: failed to allocate data of size 16.0 MiB (82.8 MiB/95.3 MiB used)',
  ];

  it('keeps only the error class and a fixed explanation', () => {
    const wrapped = leaky.map((m) => wrapEngineError(new Error(m)));
    expect(wrapped.map((e) => e.code)).toEqual([
      'QUERY_ERROR',
      'QUERY_ERROR',
      'POLICY_DENIED',
      'QUERY_ERROR',
      'LIMIT_EXCEEDED',
    ]);
    for (const e of wrapped) {
      expect(e.message).not.toMatch(/Zhang|13800138000|secret_col|passwd|MiB/);
    }
    expect(wrapped[0]!.message.startsWith('Conversion Error: ')).toBe(true);
    expect(wrapped[3]!.message.startsWith('Parser Error: ')).toBe(true);
  });

  it('unknown errors become a generic QUERY_ERROR; internal errors are fatal', () => {
    expect(duckdbErrorClass('Something Weird Error: x')).toBeNull();
    expect(wrapEngineError(new Error('value 42 broke')).message).toBe(
      'Error: the query could not be executed',
    );
    expect(isFatalEngineError(new Error('INTERNAL Error: assertion failed'))).toBe(true);
    expect(isFatalEngineError(new Error('Binder Error: x'))).toBe(false);
    expect(wrapEngineError(new Error('INTERRUPT Error: Interrupted!')).code).toBe('TIMEOUT');
  });
});

describe('hardening verification', () => {
  const cfg: HardeningConfig = {
    dbPath: '/data/datasets.duckdb',
    dataCatalog: 'sluice_data',
    tempDir: '/data/tmp/engine-0',
    exportDir: '/data/exports',
    threads: 2,
    memoryLimit: '1GB',
    maxTempDirectorySize: '2GB',
  };
  const good: Record<string, string> = {
    enable_external_access: 'false',
    lock_configuration: 'true',
    allowed_configs: '[]',
    allow_unsigned_extensions: 'false',
    allow_community_extensions: 'false',
    allow_extensions_metadata_mismatch: 'false',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
    allow_persistent_secrets: 'false',
    allow_unredacted_secrets: 'false',
    autoinstall_extension_repository: '',
    custom_extension_repository: '',
    allowed_directories: '[/data/tmp/engine-0/, /data/exports/]',
    allowed_paths: '[/data/datasets.duckdb.wal, /data/datasets.duckdb]',
    temp_directory: '/data/tmp/engine-0',
    max_temp_directory_size: '1.8 GiB',
    memory_limit: '953.6 MiB',
    threads: '2',
    log_query_path: '',
    file_search_path: '',
    TimeZone: 'UTC',
  };
  const dbs: AttachedDatabase[] = [
    { name: 'memory', path: null, readonly: false },
    { name: 'system', path: null, readonly: false },
    { name: 'temp', path: null, readonly: false },
    { name: 'sluice_data', path: '/data/datasets.duckdb', readonly: true },
  ];

  it('accepts the configured engine', () => {
    expect(verifyHardening(good, dbs, cfg)).toEqual([]);
  });

  it('names every setting that differs', () => {
    const cases: [string, string, string][] = [
      ['enable_external_access', 'true', 'enable_external_access'],
      ['lock_configuration', 'false', 'lock_configuration'],
      ['allowed_configs', '[enable_external_access]', 'allowed_configs'],
      ['allowed_directories', '[/data/tmp/engine-0/, /data/exports/, /]', 'allowed_directories'],
      ['allowed_paths', '[/etc/passwd]', 'allowed_paths'],
      ['autoload_known_extensions', 'true', 'autoload_known_extensions'],
      ['memory_limit', '18.8 GiB', 'memory_limit'],
      ['threads', '8', 'threads'],
      ['temp_directory', '/tmp', 'temp_directory'],
    ];
    for (const [name, value, want] of cases) {
      expect(verifyHardening({ ...good, [name]: value }, dbs, cfg)).toEqual([want]);
    }
    const { memory_limit: _, ...missing } = good;
    expect(verifyHardening(missing, dbs, cfg)).toEqual(['memory_limit']);
  });

  it('requires the data catalog read-only and nothing else attached', () => {
    const writable = dbs.map((d) => (d.name === 'sluice_data' ? { ...d, readonly: false } : d));
    expect(verifyHardening(good, writable, cfg)).toEqual(['data catalog']);
    const extra = [...dbs, { name: 'other', path: '/x.duckdb', readonly: true }];
    expect(verifyHardening(good, extra, cfg)).toEqual(['attached databases']);
  });

  it('locks the configuration last and parses sizes', () => {
    expect(hardeningStatements(cfg).at(-1)).toBe('SET lock_configuration = true');
    expect(parseSize('953.6 MiB')).toBeCloseTo(953.6 * 2 ** 20);
    expect(parseSize('512MB')).toBe(512e6);
    expect(parseSize('lots')).toBeNull();
  });
});

describe('calendar arithmetic', () => {
  it('matches Date for every 97th day across years 1-9999', async () => {
    const { isoDate } = await import('../../sandbox/json-values.ts');
    for (let days = -719162; days <= 2932896; days += 97) {
      expect(isoDate(days, () => 'x')).toBe(new Date(days * 86_400_000).toISOString().slice(0, 10));
    }
    expect(isoDate(-719163, () => 'fallback')).toBe('fallback');
  });

  it('DECIMAL fast path agrees with the exact text path', () => {
    for (let i = 0; i < 2000; i++) {
      const unscaled = BigInt(Math.floor((Math.random() - 0.5) * 2e15));
      const scale = i % 12;
      const n = decimalToJson(unscaled, scale);
      const text =
        (unscaled < 0n ? '-' : '') +
        (unscaled < 0n ? -unscaled : unscaled).toString().padStart(scale + 1, '0');
      const exact = scale === 0 ? text : `${text.slice(0, -scale)}.${text.slice(-scale)}`;
      expect(n).toBe(Number(exact));
    }
  });
});
