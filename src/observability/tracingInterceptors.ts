// Tracing's client and worker wiring: the interceptors of @temporalio/interceptors-opentelemetry,
// plus the attributes this project adds to each activity's span (traceAttributes: an allow-list).
import { trace } from '@opentelemetry/api';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
  type OpenTelemetryWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityExecuteInput, ActivityInboundCallsInterceptor, InjectedSinks, Next, WorkerOptions } from '@temporalio/worker';
import type { Context as ActivityContext } from '@temporalio/activity';
import { traceAttributes } from './traceAttributes';
import type { Tracing } from './tracing';

/** The client's interceptors: each start, signal, Update and query carries the current trace context. */
export function clientInterceptors(tracing: Tracing | undefined): ClientInterceptors | undefined {
  return tracing === undefined ? undefined : { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer: tracing.tracer })] };
}

/** An activity's span, with the database and the allowed facts of its input and result as attributes. */
class TracedActivity extends OpenTelemetryActivityInboundInterceptor {
  constructor(
    ctx: ActivityContext,
    tracing: Tracing,
    private readonly database: string,
  ) {
    super(ctx, { tracer: tracing.tracer });
  }

  override execute(input: ActivityExecuteInput, next: Next<ActivityInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    return super.execute(input, async (i) => {
      const span = trace.getActiveSpan();
      span?.setAttributes(Object.assign({ 'fbb.database': this.database }, ...i.args.map(traceAttributes)));
      const result = await next(i);
      span?.setAttributes(traceAttributes(result));
      return result;
    });
  }
}

/**
 * A worker's tracing options. On: activity spans (children of the workflow's StartActivity spans)
 * and the `exporter` sink the workflows' spans leave the sandbox by. Off: only a sink that drops
 * them, for a run a traced client started on a worker without tracing.
 */
export function workerTracing(tracing: Tracing | undefined, about: { database: string }): Pick<WorkerOptions, 'interceptors' | 'sinks'> {
  if (tracing === undefined) {
    const drop: InjectedSinks<{ exporter: OpenTelemetryWorkflowExporter }> = { exporter: { export: { fn: () => undefined } } };
    return { sinks: drop };
  }
  return {
    interceptors: {
      activity: [(ctx) => ({ inbound: new TracedActivity(ctx, tracing, about.database), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) })],
    },
    sinks: { exporter: makeWorkflowExporter(tracing.processor, tracing.resource) },
  };
}
