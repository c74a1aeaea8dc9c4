import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import path from 'node:path';
import type { SpanRecord } from './telemetry.ts';

/**
 * The traces that go with usage-record entries, one JSON line per trace, looked up by trace
 * id. Written after the answer (the entry itself, with its trace id, is durable before), so
 * this file needs no fsync: a lost trace never hides a request.
 */
export class TraceStore {
  readonly #file: FileHandle;
  readonly #offsets = new Map<string, { at: number; length: number }>();
  #size: number;
  #writing: Promise<void> = Promise.resolve();

  private constructor(file: FileHandle, size: number) {
    this.#file = file;
    this.#size = size;
  }

  static async open(dir: string): Promise<TraceStore> {
    const file = await open(path.join(dir, 'traces.jsonl'), 'a+', 0o600);
    const text = await file.readFile('utf8');
    const store = new TraceStore(file, Buffer.byteLength(text));
    let at = 0;
    for (const line of text.split('\n')) {
      const length = Buffer.byteLength(line);
      const id = /^\{"traceId":"([0-9a-f]{32})"/.exec(line)?.[1];
      if (id) store.#offsets.set(id, { at, length });
      at += length + 1;
    }
    return store;
  }

  put(traceId: string, spans: readonly SpanRecord[]): Promise<void> {
    if (spans.length === 0) return Promise.resolve();
    const line = Buffer.from(`${JSON.stringify({ traceId, spans })}\n`);
    this.#writing = this.#writing.then(async () => {
      const at = this.#size;
      await this.#file.write(line, 0, line.length, at);
      this.#size += line.length;
      this.#offsets.set(traceId, { at, length: line.length - 1 });
    });
    return this.#writing;
  }

  async get(traceId: string): Promise<SpanRecord[] | null> {
    const where = this.#offsets.get(traceId);
    if (!where) return null;
    const buf = Buffer.alloc(where.length);
    await this.#file.read(buf, 0, where.length, where.at);
    return (JSON.parse(buf.toString('utf8')) as { spans: SpanRecord[] }).spans;
  }

  async close(): Promise<void> {
    await this.#writing.catch(() => {});
    await this.#file.close();
  }
}

/** Arranges flat spans as a tree under their parents, children in start order. */
export interface SpanNode extends SpanRecord {
  readonly children: SpanNode[];
}

export function spanTree(spans: readonly SpanRecord[]): SpanNode[] {
  const nodes = new Map(spans.map((s) => [s.spanId, { ...s, children: [] as SpanNode[] }]));
  const roots: SpanNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.parentSpanId ? nodes.get(node.parentSpanId) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  const byStart = (a: SpanNode, b: SpanNode) => a.start.localeCompare(b.start);
  for (const node of nodes.values()) node.children.sort(byStart);
  return roots.sort(byStart);
}
