// OpenTelemetry tracing of every run, from `fbb` through the workflow to each activity: on when
// OTEL_EXPORTER_OTLP_ENDPOINT is set (spans exported over OTLP HTTP), off otherwise (no provider,
// no exporter, no interceptor). One per process: the CLI, a worker, or both in one process.
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, SimpleSpanProcessor, type SpanExporter, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Config } from '../config';
import { AsyncLocalContextManager } from './contextManager';

/** The service name every span carries. */
export const TRACING_SERVICE = 'family-brain-backup';

/** A started tracer: what the client and worker interceptors need. */
export interface Tracing {
  tracer: Tracer;
  /** Where the worker sends the workflows' spans (through the `exporter` sink) as well as its own. */
  processor: SpanProcessor;
  resource: Resource;
  /** Sends what is buffered, then stops; call before the process exits. */
  shutdown(): Promise<void>;
}

let current: Tracing | undefined;

/**
 * Starts tracing into `exporter` (batched for a network exporter; `batch: false` exports each span
 * as it ends, for tests) and registers it as the process's tracer. Once per process: a second call
 * returns the first tracer.
 */
export function startTracing(options: { exporter: SpanExporter; batch?: boolean }): Tracing {
  if (current !== undefined) return current;
  const resource = new Resource({ [ATTR_SERVICE_NAME]: TRACING_SERVICE });
  const processor = options.batch === false ? new SimpleSpanProcessor(options.exporter) : new BatchSpanProcessor(options.exporter);
  const provider = new BasicTracerProvider({ resource, spanProcessors: [processor] });
  provider.register({ contextManager: new AsyncLocalContextManager() });
  const started: Tracing = {
    tracer: trace.getTracer(TRACING_SERVICE),
    processor,
    resource,
    shutdown: () => provider.shutdown(),
  };
  current = started;
  return started;
}

/** The process's tracing for `config`: started on first use when OTEL_EXPORTER_OTLP_ENDPOINT is set; undefined when off. */
export function tracingFor(config: Pick<Config, 'tracing'>): Tracing | undefined {
  if (current !== undefined || config.tracing === undefined) return current;
  // OTEL_EXPORTER_OTLP_ENDPOINT is the collector's base URL; traces go to its /v1/traces (the OTLP spec).
  const url = `${config.tracing.endpoint.replace(/\/+$/, '')}/v1/traces`;
  return startTracing({ exporter: new OTLPTraceExporter({ url }) });
}

/** The process's tracing when it was started (by the CLI for its command, or a worker); undefined when off. */
export function activeTracing(): Tracing | undefined {
  return current;
}

/** Flushes and stops the process's tracing, if any (a CLI command's end, a worker's shutdown). */
export async function stopTracing(): Promise<void> {
  await current?.shutdown().catch(() => undefined);
}
