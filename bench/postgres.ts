/**
 * A throwaway PostgreSQL 15 cluster for the peer benchmark: Debian's packages (installed with
 * apt-get when missing), initdb into a temporary directory, a server on loopback only, psql as
 * the client. Nothing here touches a system cluster.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PG_MAJOR = 15;
const PG_BIN = `/usr/lib/postgresql/${PG_MAJOR}/bin`;
/** The unix user the server runs as (postgres refuses to run as root). */
const OS_USER = 'postgres';

export interface PgOptions {
  readonly port: number;
  /** Server settings (`-c name=value`). */
  readonly settings?: Readonly<Record<string, string>>;
}

function hasBinaries(): boolean {
  return ['initdb', 'pg_ctl', 'postgres', 'psql'].every((b) => existsSync(path.join(PG_BIN, b)));
}

/**
 * Installs postgresql-15 (server, psql, pgcrypto) from Debian's packages when it is missing.
 * Needs root; returns a description of what was found or done.
 */
export async function ensurePostgresInstalled(): Promise<string> {
  if (hasBinaries()) return 'already installed';
  if (process.getuid?.() !== 0) {
    throw new Error(`PostgreSQL ${PG_MAJOR} is missing and installing it needs root`);
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update'], { env, maxBuffer: 64 << 20 });
  await run('apt-get', ['install', '-y', '--no-install-recommends', `postgresql-${PG_MAJOR}`], {
    env,
    maxBuffer: 64 << 20,
  });
  if (!hasBinaries()) throw new Error(`postgresql-${PG_MAJOR} installed but binaries not found`);
  return `installed postgresql-${PG_MAJOR} with apt-get`;
}

function asPostgres(bin: string, args: readonly string[]): [string, string[]] {
  const full = path.join(PG_BIN, bin);
  if (process.getuid?.() === 0) return ['runuser', ['-u', OS_USER, '--', full, ...args]];
  return [full, [...args]];
}

/** Clusters started and not yet stopped, so an interrupted run can still stop them. */
const live = new Set<PgCluster>();

/** Stops every cluster this process started (for SIGINT/SIGTERM handlers). */
export async function stopAllClusters(): Promise<void> {
  await Promise.all([...live].map((c) => c.stop()));
}

export class PgCluster {
  readonly port: number;
  readonly dir: string;
  #running = false;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
  }

  /** initdb + start. The caller must `stop()` it (a finally block), which also deletes it. */
  static async start(opts: PgOptions): Promise<PgCluster> {
    const root = await mkdtemp(path.join(tmpdir(), 'sluice-bench-pg-'));
    const cluster = new PgCluster(root, opts.port);
    live.add(cluster);
    try {
      if (process.getuid?.() === 0) {
        const uid = Number(execFileSync('id', ['-u', OS_USER], { encoding: 'utf8' }).trim());
        const gid = Number(execFileSync('id', ['-g', OS_USER], { encoding: 'utf8' }).trim());
        await chown(root, uid, gid);
      }
      const data = path.join(root, 'data');
      const [cmd, args] = asPostgres('initdb', [
        '-D',
        data,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ]);
      await run(cmd, args, { maxBuffer: 16 << 20 });
      const settings: Record<string, string> = {
        listen_addresses: '127.0.0.1',
        port: String(opts.port),
        unix_socket_directories: root,
        ...opts.settings,
      };
      const serverOpts = Object.entries(settings)
        .map(([k, v]) => `-c ${k}=${v}`)
        .join(' ');
      const [ctl, ctlArgs] = asPostgres('pg_ctl', [
        '-D',
        data,
        '-l',
        path.join(root, 'server.log'),
        '-o',
        serverOpts,
        '-w',
        '-t',
        '60',
        'start',
      ]);
      await run(ctl, ctlArgs);
      cluster.#running = true;
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  /** Stops the server (fast shutdown) and deletes the cluster directory. */
  async stop(): Promise<void> {
    live.delete(this);
    if (this.#running) {
      this.#running = false;
      const [ctl, args] = asPostgres('pg_ctl', [
        '-D',
        path.join(this.dir, 'data'),
        '-m',
        'fast',
        '-w',
        'stop',
      ]);
      try {
        await run(ctl, args);
      } catch {
        // already gone; the directory is removed below either way
      }
    }
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Runs a psql script over TCP on loopback as `user` and returns its stdout. `ON_ERROR_STOP`
   * is on, so a failed statement rejects with psql's stderr.
   */
  psql(script: string, opts: { user?: string; db?: string } = {}): Promise<string> {
    const args = [
      '-X',
      '-q',
      '-A',
      '-t',
      '-v',
      'ON_ERROR_STOP=1',
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      opts.user ?? 'postgres',
      '-d',
      opts.db ?? 'postgres',
      '-f',
      '-',
    ];
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(PG_BIN, 'psql'), args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, PGCONNECT_TIMEOUT: '10' },
      });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d: Buffer) => err.push(d));
      child.on('error', reject);
      child.on('close', (code) => {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(new Error(`psql exited with ${code}: ${stderr.slice(0, 2000)}`));
      });
      child.stdin.end(script);
    });
  }
}

/** `postgres --version`, e.g. "postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)". */
export function postgresVersion(): string {
  return execFileSync(path.join(PG_BIN, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
}
