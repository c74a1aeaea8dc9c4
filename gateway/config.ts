import { availableParallelism } from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { SluiceError } from './errors.ts';

/**
 * All configuration, from the environment, checked once at start-up. Unknown SLUICE_*
 * variables are refused so a typo never silently falls back to a default.
 */
const schema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    dataDir: z.string().min(1).default('./data'),
    queryTimeoutMs: z.coerce.number().int().min(100).max(3_600_000).default(30_000),
    demoTpchScale: z.coerce.number().positive().max(100).optional(),
    jwksUrl: z.url().optional(),
    issuer: z.string().min(1).default('sluice-demo'),
    audience: z.string().min(1).default('sluice'),
    jwtAlgorithms: z
      .string()
      .transform((s) => s.split(',').map((a) => a.trim()))
      .optional(),
    workers: z.coerce.number().int().min(1).max(32).default(2),
    /** Default: the machine's cores shared out among the workers, so they never oversubscribe. */
    workerThreads: z.coerce.number().int().min(1).max(64).optional(),
    /**
     * Threads of the solo worker, which runs a query only while no other runs (engine-pool.ts);
     * 0 turns it off. Default: every core, when that is more than `workerThreads`.
     */
    soloWorkerThreads: z.coerce.number().int().min(0).max(64).optional(),
    workerMemory: z
      .string()
      .regex(/^\d+(\.\d+)?\s*(MB|GB|MiB|GiB)$/i)
      .default('4GB'),
    maxRowsUnconditional: z.coerce.number().int().min(1).default(100_000),
    logLevel: z
      .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
      .default('info'),
  })
  .strict();

export type Config = z.infer<typeof schema> & {
  readonly dataDir: string;
  readonly workerThreads: number;
  readonly soloWorkerThreads: number;
};

const envNames: Record<string, keyof z.input<typeof schema>> = {
  PORT: 'port',
  HOST: 'host',
  SLUICE_DATA_DIR: 'dataDir',
  SLUICE_QUERY_TIMEOUT_MS: 'queryTimeoutMs',
  SLUICE_DEMO_TPCH: 'demoTpchScale',
  SLUICE_JWKS_URL: 'jwksUrl',
  SLUICE_ISSUER: 'issuer',
  SLUICE_AUDIENCE: 'audience',
  SLUICE_JWT_ALGORITHMS: 'jwtAlgorithms',
  SLUICE_WORKERS: 'workers',
  SLUICE_WORKER_THREADS: 'workerThreads',
  SLUICE_SOLO_WORKER_THREADS: 'soloWorkerThreads',
  SLUICE_WORKER_MEMORY: 'workerMemory',
  SLUICE_MAX_ROWS_UNCONDITIONAL: 'maxRowsUnconditional',
  SLUICE_LOG_LEVEL: 'logLevel',
};

/** Builds the config from environment variables, with `overrides` (tests) on top. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<z.input<typeof schema>> = {},
): Config {
  const raw: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    const key = envNames[name];
    if (key) raw[key] = value;
    else if (name.startsWith('SLUICE_')) {
      throw new SluiceError('BAD_REQUEST', `unknown configuration variable ${name}`);
    }
  }
  const parsed = schema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const field = Object.entries(envNames).find(([, k]) => k === issue.path[0])?.[0];
    throw new SluiceError(
      'BAD_REQUEST',
      `invalid configuration ${field ?? issue.path.join('.')}: ${issue.message}`,
    );
  }
  const { workers } = parsed.data;
  const cores = availableParallelism();
  const workerThreads = parsed.data.workerThreads ?? Math.max(1, Math.floor(cores / workers));
  return {
    ...parsed.data,
    dataDir: path.resolve(parsed.data.dataDir),
    workerThreads,
    soloWorkerThreads: parsed.data.soloWorkerThreads ?? (cores > workerThreads ? cores : 0),
  };
}
