import type { FastifyInstance } from 'fastify';
import type { DatasetStatus } from '../../datasets/catalog-types.ts';
import { SluiceError } from '../errors.ts';
import {
  authenticate,
  notePrincipal,
  recorded,
  requestIds,
  requireRole,
} from '../request-context.ts';
import type { Services } from '../services.ts';
import type { UserRecord } from '../store.ts';

const datasetActions: Record<string, DatasetStatus> = {
  suspend: 'suspended',
  withdraw: 'withdrawn',
  resume: 'active',
};

const userActions: Record<string, UserRecord['status']> = {
  restrict: 'restricted',
  close: 'closed',
  reinstate: 'active',
};

const reasonBody = {
  type: 'object',
  required: ['reason'],
  properties: { reason: { type: 'string', minLength: 1, maxLength: 2000 } },
  additionalProperties: false,
} as const;

/**
 * Acting on the catalog and on users, effective at once and recorded like every data request:
 * the publishing agency suspends, withdraws or resumes its dataset (e.g. on an infringement
 * notice); a regulator restricts, closes or reinstates a user's access.
 */
export async function governanceRoutes(
  app: FastifyInstance,
  opts: { services: Services },
): Promise<void> {
  const { store, auth, recorder } = opts.services;

  app.post<{ Params: { id: string; action: string }; Body: { reason: string } }>(
    '/v1/datasets/:id/:action',
    { schema: { body: reasonBody } },
    async (req) =>
      recorded(recorder, `dataset.${req.params.action}`, requestIds(req), async (entry) => {
        const principal = await authenticate(req, auth, store);
        notePrincipal(entry, principal);
        const status = datasetActions[req.params.action];
        if (!status) throw new SluiceError('NOT_FOUND', 'no such endpoint');
        entry.datasets = [req.params.id];
        entry.detail = { reason: req.body.reason, status };
        requireRole(principal, 'agency');
        const dataset = await store.getDataset(req.params.id);
        // Another publisher's dataset is refused exactly like a missing one.
        if (!dataset || dataset.publisher !== principal.org) {
          throw new SluiceError('NOT_FOUND', `dataset ${req.params.id} does not exist`);
        }
        await store.setDatasetStatus(dataset.id, status);
        return { dataset: dataset.id, status };
      }),
  );

  app.post<{ Params: { subject: string; action: string }; Body: { reason: string } }>(
    '/v1/users/:subject/:action',
    { schema: { body: reasonBody } },
    async (req) =>
      recorded(recorder, `user.${req.params.action}`, requestIds(req), async (entry) => {
        const principal = await authenticate(req, auth, store);
        notePrincipal(entry, principal);
        const status = userActions[req.params.action];
        if (!status) throw new SluiceError('NOT_FOUND', 'no such endpoint');
        entry.detail = { subject: req.params.subject, reason: req.body.reason, status };
        requireRole(principal, 'regulator');
        if (req.params.subject === principal.subject) {
          throw new SluiceError('FORBIDDEN', 'a regulator cannot change their own access');
        }
        await store.setUserStatus(req.params.subject, status);
        return { user: req.params.subject, status };
      }),
  );
}
