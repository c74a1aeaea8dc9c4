import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const SERVE = fileURLToPath(new URL('./serve.ts', import.meta.url));
const READY = 'SLUICE_BENCH_READY ';

export type BenchUser = 'alice' | 'bob' | 'reggie';

/** The part of a /v1/query answer the benchmarks look at. */
export interface QueryOutcome {
  readonly status: number;
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly columns: readonly string[];
  readonly rows: readonly unknown[][];
  readonly errorCode?: string;
}

/**
 * A gateway running in a child process (bench/serve.ts), reached over HTTP on loopback exactly
 * as a client would: bearer token, JSON body, full answer read and parsed.
 */
export class GatewayProcess {
  readonly url: string;
  readonly tokens: Readonly<Record<BenchUser, string>>;
  /** Child start to listening, seeding included. */
  readonly startMs: number;
  readonly #child: ChildProcess;

  private constructor(
    child: ChildProcess,
    port: number,
    tokens: Record<BenchUser, string>,
    startMs: number,
  ) {
    this.#child = child;
    this.url = `http://127.0.0.1:${port}`;
    this.tokens = tokens;
    this.startMs = startMs;
  }

  /**
   * Starts the gateway with `overrides` (loadConfig keys) on a bench-owned data directory,
   * after clearing its usage record (see serve.ts). `serve` runs another checkout's entry
   * (bench/ab.ts).
   */
  static async start(
    overrides: Record<string, unknown>,
    serve: string = SERVE,
  ): Promise<GatewayProcess> {
    const child = spawn(process.execPath, [serve, JSON.stringify(overrides)], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, SLUICE_BENCH_FRESH_RECORD: '1' },
    });
    const stderr: string[] = [];
    child.stderr!.on('data', (d: Buffer) => {
      stderr.push(d.toString('utf8'));
      if (stderr.length > 200) stderr.shift();
    });
    return new Promise((resolve, reject) => {
      let buffered = '';
      const onData = (d: Buffer) => {
        buffered += d.toString('utf8');
        const at = buffered.indexOf(READY);
        const end = at >= 0 ? buffered.indexOf('\n', at) : -1;
        if (end < 0) return;
        child.stdout!.off('data', onData);
        child.stdout!.resume();
        const info = JSON.parse(buffered.slice(at + READY.length, end)) as {
          port: number;
          tokens: Record<BenchUser, string>;
          startMs: number;
        };
        resolve(new GatewayProcess(child, info.port, info.tokens, info.startMs));
      };
      child.stdout!.on('data', onData);
      child.on('exit', (code) =>
        reject(
          new Error(`bench gateway exited with ${code} before it was ready:\n${stderr.join('')}`),
        ),
      );
    });
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** POST /v1/query; resolves for any HTTP status (the caller decides what is a failure). */
  async query(user: BenchUser, sql: string): Promise<QueryOutcome> {
    const res = await this.#post('/v1/query', user, JSON.stringify({ sql }));
    const body = JSON.parse(res.text) as {
      rowCount?: number;
      truncated?: boolean;
      columns?: { name: string }[];
      rows?: unknown[][];
      error?: { code: string };
    };
    return {
      status: res.status,
      rowCount: body.rowCount ?? 0,
      truncated: body.truncated ?? false,
      columns: (body.columns ?? []).map((c) => c.name),
      rows: body.rows ?? [],
      ...(body.error ? { errorCode: body.error.code } : {}),
    };
  }

  /** Like `query`, but rejects unless the gateway answered 200. */
  async queryOk(user: BenchUser, sql: string): Promise<QueryOutcome> {
    const out = await this.query(user, sql);
    if (out.status !== 200) {
      throw new Error(
        `gateway answered ${out.status} ${out.errorCode ?? ''} for: ${sql.slice(0, 120)}`,
      );
    }
    return out;
  }

  // node:http with a kept-alive connection: fetch spends more of the client's own time per
  // request, which is neither the gateway's time nor the peer's.
  readonly #agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

  #post(urlPath: string, user: BenchUser, body: string): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request(
        `${this.url}${urlPath}`,
        {
          method: 'POST',
          agent: this.#agent,
          headers: {
            authorization: `Bearer ${this.tokens[user]}`,
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            text += chunk;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  /** GET with a user's token; resolves with the status and the parsed JSON body. */
  async getJson(user: BenchUser, urlPath: string): Promise<{ status: number; body: unknown }> {
    const res = await fetch(`${this.url}${urlPath}`, {
      headers: { authorization: `Bearer ${this.tokens[user]}` },
    });
    return { status: res.status, body: await res.json() };
  }

  /** The usage record's size as the regulator's verify route recomputes it. */
  async recordSize(): Promise<{ ok: boolean; size: number }> {
    const { status, body } = await this.getJson('reggie', '/v1/audit/verify');
    if (status !== 200) throw new Error(`GET /v1/audit/verify answered ${status}`);
    const b = body as { ok: boolean; size: number };
    return { ok: b.ok, size: b.size };
  }

  /** SIGTERM and wait for the process (engine workers and usage record closed) to exit. */
  async stop(): Promise<void> {
    this.#agent.destroy();
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once('exit', () => resolve()));
    this.#child.kill('SIGTERM');
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
