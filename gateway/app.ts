import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { SluiceError } from './errors.ts';
import { isRecorded, type RequestState, requestIds, writeRecord } from './request-context.ts';
import { auditRoutes } from './routes/audit.ts';
import { datasetRoutes } from './routes/datasets.ts';
import { governanceRoutes } from './routes/governance.ts';
import { healthRoutes } from './routes/health.ts';
import { queryRoutes } from './routes/query.ts';
import type { Services } from './services.ts';
import { newEntry } from './usage.ts';

export interface BuildOptions {
  readonly services: Services;
  readonly logger?: boolean;
}

/** Builds the HTTP API. Tests call it and use `app.inject()`; start.ts listens on a port. */
export async function buildApp(opts: BuildOptions): Promise<FastifyInstance> {
  const { services } = opts;
  const app = Fastify({
    logger: opts.logger ? { level: services.config.logLevel } : false,
    genReqId: () => randomUUID(),
    bodyLimit: 1024 * 1024,
    // Strict validation: no type coercion, unknown fields are errors rather than dropped.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  });

  const { telemetry, traces } = services;
  app.decorateRequest('sluice', null as unknown as RequestState);
  app.addHook('onRequest', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    req.sluice = {
      trace: telemetry.startRequest(`${req.method} ${route}`, req.headers, {
        'http.request.method': req.method,
        'http.route': route,
      }),
      recorded: false,
      errorCode: null,
    };
    // Every answer names its trace, so a denial can be looked up in the record too.
    reply.header('x-sluice-trace-id', req.sluice.trace.traceId);
  });
  // The trace ends once the answer is out; it is then kept next to the usage record.
  app.addHook('onResponse', async (req, reply) => {
    const { trace, errorCode } = req.sluice;
    trace.end(reply.statusCode, errorCode);
    if (req.sluice.recorded) {
      await traces.put(trace.traceId, telemetry.takeTrace(trace.traceId)).catch((err: unknown) => {
        req.log.warn({ err }, 'a trace could not be stored');
      });
    } else {
      telemetry.takeTrace(trace.traceId);
    }
  });

  app.setErrorHandler(async (err: FastifyError | SluiceError, req, reply) => {
    let known = toSluiceError(err);
    if (known.code === 'INTERNAL') req.log.error({ err }, 'unexpected error');
    // Requests refused before their handler ran (bad body, bad query string) are recorded too.
    if (req.url.startsWith('/v1/') && !isRecorded(req)) {
      const ids = requestIds(req);
      ids.markRecorded();
      const entry = newEntry(actionOf(req.routeOptions.url), ids);
      entry.decision = 'deny';
      entry.errorCode = known.code;
      try {
        await writeRecord(ids.trace, services.recorder, entry);
      } catch (recordErr) {
        known = recordErr as SluiceError;
      }
    }
    req.sluice.errorCode = known.code;
    return reply.status(known.statusCode).send({
      error: { code: known.code, message: known.message, requestId: req.id },
    });
  });
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({
      error: { code: 'NOT_FOUND', message: 'no such endpoint', requestId: req.id },
    });
  });

  await app.register(healthRoutes);
  await app.register(datasetRoutes, { services });
  await app.register(queryRoutes, { services });
  await app.register(auditRoutes, { services });
  await app.register(governanceRoutes, { services });
  return app;
}

/** Maps anything thrown to one of our errors without leaking internals. */
function toSluiceError(err: unknown): SluiceError {
  if (err instanceof SluiceError) return err;
  const e = err as FastifyError;
  if (e.validation) {
    const first = e.validation[0];
    const where = first?.instancePath ? first.instancePath.slice(1).replaceAll('/', '.') : 'body';
    return new SluiceError('BAD_REQUEST', `${where || 'body'} ${first?.message ?? 'is not valid'}`);
  }
  if (e.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new SluiceError('PAYLOAD_TOO_LARGE', 'the request body is too large');
  }
  if (e.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' || e.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') {
    return new SluiceError('BAD_REQUEST', 'the request body must be JSON');
  }
  if (e.statusCode === 400 || e.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new SluiceError('BAD_REQUEST', 'the request body is not valid JSON');
  }
  return new SluiceError('INTERNAL', 'an internal error occurred');
}

/** The usage-record action of a route refused before its handler ran. */
function actionOf(route: string | undefined): string {
  if (!route) return 'unknown';
  if (route === '/v1/query') return 'query';
  if (route.endsWith('/download')) return 'download';
  if (route.endsWith('/preview')) return 'preview';
  if (route.startsWith('/v1/audit')) return 'audit';
  return route;
}
