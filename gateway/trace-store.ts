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
  /** Lines waiting for the next write; under load many requests share one write. */
  #pending: { traceId: string; line: Buffer }[] = [];
  #flushing: Promise<void> | null = null;

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

  /** Stores a trace; resolves once its line is written (with whatever else was waiting). */
  put(traceId: string, spans: readonly SpanRecord[]): Promise<void> {
    if (spans.length === 0) return Promise.resolve();
    this.#pending.push({ traceId, line: Buffer.from(`${JSON.stringify({ traceId, spans })}\n`) });
    this.#flushing ??= this.#flush();
    return this.#flushing;
  }

  async #flush(): Promise<void> {
    try {
      await Promise.resolve(); // lines put in the same tick join this write
      while (this.#pending.length > 0) {
        const batch = this.#pending;
        this.#pending = [];
        const buf = Buffer.concat(batch.map((b) => b.line));
        let at = this.#size;
        await this.#file.write(buf, 0, buf.length, at);
        this.#size += buf.length;
        for (const { traceId, line } of batch) {
          this.#offsets.set(traceId, { at, length: line.length - 1 });
          at += line.length;
        }
      }
    } finally {
      this.#flushing = null;
      // Lines put while a failed write was in flight still get their own attempt.
      if (this.#pending.length > 0) {
        this.#flushing = this.#flush();
        this.#flushing.catch(() => {}); // its callers hold the failed promise and were told
      }
    }
  }

  async get(traceId: string): Promise<SpanRecord[] | null> {
    if (!this.#offsets.has(traceId) && this.#flushing) await this.#flushing.catch(() => {});
    const where = this.#offsets.get(traceId);
    if (!where) return null;
    const buf = Buffer.alloc(where.length);
    await this.#file.read(buf, 0, where.length, where.at);
    return (JSON.parse(buf.toString('utf8')) as { spans: SpanRecord[] }).spans;
  }

  async close(): Promise<void> {
    await this.#flushing?.catch(() => {});
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
