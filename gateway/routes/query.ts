import type { FastifyInstance } from 'fastify';
import {
  authenticate,
  notePrincipal,
  recorded,
  requestIds,
  requireDataAccess,
  requireRole,
} from '../request-context.ts';
import type { Services } from '../services.ts';

const ARROW_STREAM = 'application/vnd.apache.arrow.stream';

export async function queryRoutes(
  app: FastifyInstance,
  opts: { services: Services },
): Promise<void> {
  const { store, auth, recorder, queries } = opts.services;

  app.post<{ Body: { sql: string; agreement?: string } }>(
    '/v1/query',
    {
      schema: {
        body: {
          type: 'object',
          required: ['sql'],
          properties: {
            sql: { type: 'string', minLength: 1 },
            agreement: { type: 'string', minLength: 1, maxLength: 200 },
          },
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const ids = requestIds(req);
      const format = req.headers.accept?.includes(ARROW_STREAM) ? 'arrow' : 'json';
      const answer = await recorded(recorder, 'query', ids, async (entry) => {
        const principal = await authenticate(req, auth, store);
        notePrincipal(entry, principal);
        entry.query = req.body.sql;
        requireRole(principal, 'researcher');
        requireDataAccess(principal);
        return queries.query(
          principal,
          { sql: req.body.sql, agreement: req.body.agreement, format },
          entry,
          ids.trace,
        );
      });
      if (answer.arrow) {
        return reply
          .header('content-type', ARROW_STREAM)
          .header('x-sluice-query-id', answer.queryId)
          .header('x-sluice-row-count', String(answer.rowCount))
          .header('x-sluice-truncated', String(answer.truncated))
          .header('x-sluice-attribution', encodeURIComponent(answer.attribution.citation))
          .send(Buffer.from(answer.arrow));
      }
      // The rows go out as the engine encoded them, without a parse and a second stringify.
      const body =
        `{"queryId":${JSON.stringify(answer.queryId)},"traceId":${JSON.stringify(ids.traceId)},` +
        `"columns":${JSON.stringify(answer.columns)},"rows":${answer.rowsJson ?? '[]'},` +
        `"rowCount":${answer.rowCount},"truncated":${answer.truncated},` +
        `"attribution":${JSON.stringify(answer.attribution)}}`;
      return reply.header('content-type', 'application/json; charset=utf-8').send(body);
    },
  );
}
