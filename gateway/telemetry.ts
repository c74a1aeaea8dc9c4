import {
  type Attributes,
  context as apiContext,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter as OtlpJsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as OtlpProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace';
import { SluiceError } from './errors.ts';

/** One finished span as the usage record keeps it next to its entry. */
export interface SpanRecord {
  readonly name: string;
  readonly spanId: string;
  readonly parentSpanId: string | null;
  /** ISO 8601 start time. */
  readonly start: string;
  readonly durationMs: number;
  readonly status: 'ok' | 'error' | 'unset';
  readonly attributes: Attributes;
}

const MAX_OPEN_TRACES = 10_000;

/**
 * Keeps the finished spans of each trace in memory until the gateway stores them with the
 * request's record, so a regulator sees the trace without an external collector.
 */
class TraceCollector implements SpanProcessor {
  readonly #traces = new Map<string, SpanRecord[]>();

  onStart(): void {}

  onEnd(span: ReadableSpan): void {
    const traceId = span.spanContext().traceId;
    let spans = this.#traces.get(traceId);
    if (!spans) {
      // Bounded: traces nobody takes (a client that hung up) are dropped oldest first.
      if (this.#traces.size >= MAX_OPEN_TRACES) {
        this.#traces.delete(this.#traces.keys().next().value!);
      }
      spans = [];
      this.#traces.set(traceId, spans);
    }
    const [s, ns] = span.startTime;
    const [ds, dns] = span.duration;
    spans.push({
      name: span.name,
      spanId: span.spanContext().spanId,
      parentSpanId: span.parentSpanContext?.spanId ?? null,
      start: new Date(s * 1000 + ns / 1e6).toISOString(),
      durationMs: Math.round((ds * 1000 + dns / 1e6) * 1000) / 1000,
      status:
        span.status.code === SpanStatusCode.ERROR
          ? 'error'
          : span.status.code === SpanStatusCode.OK
            ? 'ok'
            : 'unset',
      attributes: { ...span.attributes },
    });
  }

  take(traceId: string): SpanRecord[] {
    const spans = this.#traces.get(traceId) ?? [];
    this.#traces.delete(traceId);
    return spans;
  }

  async forceFlush(): Promise<void> {}
  async shutdown(): Promise<void> {
    this.#traces.clear();
  }
}

/** Exporters chosen by the standard OTEL_* variables; none unless asked for. */
function exportersFromEnv(env: NodeJS.ProcessEnv): SpanExporter[] {
  const wanted = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim());
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const otlp = wanted.includes('otlp') || (wanted[0] === '' && endpoint !== undefined);
  if (!otlp || wanted.includes('none')) return [];
  const protocol =
    env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? env.OTEL_EXPORTER_OTLP_PROTOCOL ?? 'http/protobuf';
  if (protocol === 'http/json') return [new OtlpJsonExporter()];
  if (protocol === 'http/protobuf') return [new OtlpProtoExporter()];
  throw new SluiceError(
    'BAD_REQUEST',
    `invalid configuration OTEL_EXPORTER_OTLP_PROTOCOL: ${protocol} is not supported (use http/protobuf or http/json)`,
  );
}

/**
 * Tracing for the whole process: @opentelemetry/sdk-node with our collector, plus OTLP
 * export when the OTEL_* variables ask for it. One per process (the SDK is global).
 */
export class Telemetry {
  static #instance: Telemetry | undefined;
  readonly tracer: Tracer;
  readonly #collector: TraceCollector;
  readonly #sdk: NodeSDK;
  readonly #exporting: SpanProcessor[];
  readonly #propagator = new W3CTraceContextPropagator();

  private constructor(env: NodeJS.ProcessEnv) {
    this.#collector = new TraceCollector();
    this.#exporting = exportersFromEnv(env).map(
      (exporter) => new BatchSpanProcessor({ exporter, scheduledDelayMillis: 500 }),
    );
    this.#sdk = new NodeSDK({
      serviceName: env.OTEL_SERVICE_NAME ?? 'sluice',
      autoDetectResources: false,
      instrumentations: [],
      spanProcessors: [this.#collector, ...this.#exporting],
    });
    this.#sdk.start();
    this.tracer = trace.getTracer('sluice');
  }

  static start(env: NodeJS.ProcessEnv = process.env): Telemetry {
    Telemetry.#instance ??= new Telemetry(env);
    return Telemetry.#instance;
  }

  /** Begins the root span of a request, continuing an incoming W3C trace context if any. */
  startRequest(
    name: string,
    headers: Record<string, unknown>,
    attributes: Attributes,
  ): RequestTrace {
    const parent = this.#propagator.extract(ROOT_CONTEXT, headers, {
      get: (carrier, key) => {
        const v = (carrier as Record<string, unknown>)[key];
        return typeof v === 'string' ? v : undefined;
      },
      keys: (carrier) => Object.keys(carrier as object),
    });
    const root = this.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    return new RequestTrace(this.tracer, root);
  }

  /** The finished spans of a trace; each trace can be taken once. */
  takeTrace(traceId: string): SpanRecord[] {
    return this.#collector.take(traceId);
  }

  /** Sends what the OTLP exporters hold. */
  async flush(): Promise<void> {
    await Promise.all(this.#exporting.map((p) => p.forceFlush()));
  }
}

/** The spans of one request. Span attributes never carry data values or SQL literals. */
export class RequestTrace {
  readonly #tracer: Tracer;
  readonly root: Span;

  constructor(tracer: Tracer, root: Span) {
    this.#tracer = tracer;
    this.root = root;
  }

  get traceId(): string {
    return this.root.spanContext().traceId;
  }

  get spanId(): string {
    return this.root.spanContext().spanId;
  }

  #context(parent: Span | undefined): Context {
    return trace.setSpan(apiContext.active(), parent ?? this.root);
  }

  /** Runs `work` inside a child span; a thrown SluiceError marks it with its code. */
  async span<T>(name: string, work: (span: Span) => Promise<T> | T, parent?: Span): Promise<T> {
    const span = this.#tracer.startSpan(name, {}, this.#context(parent));
    try {
      const result = await work(span);
      span.setStatus({ code: SpanStatusCode.OK });
      return result;
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute('sluice.error_code', err instanceof SluiceError ? err.code : 'INTERNAL');
      throw err;
    } finally {
      span.end();
    }
  }

  /** Records a span measured elsewhere (a planner stage, a stage inside a worker). */
  addSpan(
    name: string,
    startMs: number,
    durationMs: number,
    attributes: Attributes,
    parent?: Span,
  ): void {
    const span = this.#tracer.startSpan(
      name,
      { startTime: startMs, attributes },
      this.#context(parent),
    );
    span.setStatus({ code: SpanStatusCode.OK });
    span.end(startMs + durationMs);
  }

  /** The W3C traceparent of a span, to carry the trace across the worker boundary. */
  traceparent(span: Span): string {
    const c = span.spanContext();
    return `00-${c.traceId}-${c.spanId}-${(c.traceFlags & 1).toString(16).padStart(2, '0')}`;
  }

  end(statusCode: number, errorCode: string | null): void {
    this.root.setAttribute('http.response.status_code', statusCode);
    if (errorCode) this.root.setAttribute('sluice.error_code', errorCode);
    this.root.setStatus({ code: statusCode >= 500 ? SpanStatusCode.ERROR : SpanStatusCode.OK });
    this.root.end();
  }
}
