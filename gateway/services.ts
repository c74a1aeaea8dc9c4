import type { EnginePool } from '../sandbox/engine-pool.ts';
import type { Authenticator } from './auth.ts';
import type { Config } from './config.ts';
import type { Ledger } from './ledger/ledger.ts';
import type { QueryService } from './query-service.ts';
import type { Store } from './store.ts';
import type { Telemetry } from './telemetry.ts';
import type { TraceStore } from './trace-store.ts';
import type { Recorder } from './usage.ts';

/** Everything the routes need, built once at start-up (see start.ts) or by a test. */
export interface Services {
  readonly config: Config;
  readonly store: Store;
  readonly auth: Authenticator;
  readonly recorder: Recorder;
  /** The usage record itself, for review; `recorder` appends to it. */
  readonly ledger: Ledger;
  readonly engine: EnginePool;
  readonly queries: QueryService;
  readonly telemetry: Telemetry;
  /** The trace of each recorded request, by trace id. */
  readonly traces: TraceStore;
}
