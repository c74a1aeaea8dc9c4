import { createReadStream } from 'node:fs';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { DatasetEntry } from '../../datasets/catalog-types.ts';
import { SluiceError } from '../errors.ts';
import type { Principal } from '../principal.ts';
import { attribution } from '../query-service.ts';
import {
  authenticate,
  notePrincipal,
  recorded,
  requestIds,
  requireDataAccess,
} from '../request-context.ts';
import type { Services } from '../services.ts';

const downloadTypes = {
  csv: 'text/csv; charset=utf-8',
  json: 'application/x-ndjson; charset=utf-8',
  parquet: 'application/vnd.apache.parquet',
  arrow: 'application/vnd.apache.arrow.stream',
} as const;
type DownloadFormat = keyof typeof downloadTypes;

/**
 * Non-open data is visible only to regulators and to the agency that publishes it; to
 * everyone else it does not exist.
 */
function isVisible(dataset: DatasetEntry, principal: Principal | null): boolean {
  if (dataset.openType !== 'non-open') return true;
  if (!principal) return false;
  return (
    principal.role === 'regulator' ||
    (principal.role === 'agency' && principal.org === dataset.publisher)
  );
}

export async function datasetRoutes(
  app: FastifyInstance,
  opts: { services: Services },
): Promise<void> {
  const { store, auth, recorder, queries, engine } = opts.services;

  /** The catalog is public; a presented token must still be valid. */
  async function optionalPrincipal(req: FastifyRequest): Promise<Principal | null> {
    if (req.headers.authorization === undefined) return null;
    return authenticate(req, auth, store);
  }

  async function visibleDataset(id: string, principal: Principal | null): Promise<DatasetEntry> {
    const dataset = await store.getDataset(id);
    if (!dataset || !isVisible(dataset, principal)) {
      throw new SluiceError('NOT_FOUND', `dataset ${id} does not exist`);
    }
    return dataset;
  }

  app.get('/v1/datasets', async (req) => {
    const principal = await optionalPrincipal(req);
    const datasets = (await store.listDatasets()).filter((d) => isVisible(d, principal));
    return { datasets: datasets.map(publicEntry) };
  });

  app.get<{ Params: { id: string } }>('/v1/datasets/:id', async (req) => {
    const principal = await optionalPrincipal(req);
    return publicEntry(await visibleDataset(req.params.id, principal));
  });

  app.get<{ Params: { id: string } }>('/v1/datasets/:id/preview', async (req) =>
    recorded(recorder, 'preview', requestIds(req), async (entry) => {
      const principal = await authenticate(req, auth, store);
      notePrincipal(entry, principal);
      requireDataAccess(principal);
      entry.datasets = [req.params.id];
      const dataset = await visibleDataset(req.params.id, principal);
      if (dataset.openType === 'non-open') {
        throw new SluiceError('FORBIDDEN', 'non-open data is never served');
      }
      if (dataset.status !== 'active') {
        throw new SluiceError('DATASET_SUSPENDED', `dataset ${dataset.id} is ${dataset.status}`);
      }
      const answer = await queries.preview(dataset, entry, req.sluice.trace);
      return {
        dataset: dataset.id,
        columns: answer.columns,
        rows: JSON.parse(answer.rowsJson ?? '[]') as unknown[][],
        rowCount: answer.rowCount,
        attribution: answer.attribution,
      };
    }),
  );

  app.get<{ Params: { id: string }; Querystring: { format?: string } }>(
    '/v1/datasets/:id/download',
    {
      schema: {
        querystring: {
          type: 'object',
          properties: { format: { type: 'string', enum: Object.keys(downloadTypes) } },
          additionalProperties: false,
        },
      },
    },
    async (req, reply) => {
      const ids = requestIds(req);
      const format = (req.query.format ?? 'csv') as DownloadFormat;
      const exported = await recorded(recorder, 'download', ids, async (entry) => {
        const principal = await authenticate(req, auth, store);
        notePrincipal(entry, principal);
        requireDataAccess(principal);
        entry.datasets = [req.params.id];
        entry.detail = { format };
        const dataset = await visibleDataset(req.params.id, principal);
        if (dataset.openType !== 'unconditional') {
          throw new SluiceError(
            'FORBIDDEN',
            'only unconditional data can be downloaded; conditional data is queried in the sandbox',
          );
        }
        if (dataset.status !== 'active') {
          throw new SluiceError('DATASET_SUSPENDED', `dataset ${dataset.id} is ${dataset.status}`);
        }
        const file = await engine.exportTable(dataset.id, format);
        entry.rows = file.rows;
        entry.bytes = file.bytes;
        return { file, dataset };
      });
      const { file, dataset } = exported;
      // Large reads: each read is a trip through the thread pool, and a download is often big.
      const stream = createReadStream(file.path, { highWaterMark: 1 << 20 });
      const cleanup = () => void file.cleanup();
      stream.on('close', cleanup);
      stream.on('error', cleanup);
      const ext = format === 'json' ? 'ndjson' : format;
      return reply
        .header('content-type', downloadTypes[format])
        .header('content-length', file.bytes)
        .header('content-disposition', `attachment; filename="${dataset.id}.${ext}"`)
        .header('x-sluice-attribution', encodeURIComponent(attribution([dataset]).citation))
        .send(stream);
    },
  );
}

/** The open-list entry as served: everything but internal bookkeeping. */
function publicEntry(d: DatasetEntry) {
  return {
    id: d.id,
    title: d.title,
    domain: d.domain,
    summary: d.summary,
    items: d.items,
    format: d.format,
    openType: d.openType,
    conditions: d.conditions,
    updateFrequency: d.updateFrequency,
    publisher: d.publisher,
    source: d.source,
    status: d.status,
    rowCount: d.rowCount,
    objections: [],
  };
}
