// The workflow side of tracing (bundled with the workflows: src/workflowBundle.ts). A run started
// by a traced client (its start carries the trace header) gets @temporalio/interceptors-opentelemetry's
// workflow interceptors: a span for the run, one per activity and child workflow it starts, with the
// context passed on in their headers. A run started without the header runs exactly as without
// interceptors, so every history recorded before tracing existed replays unchanged.
import type { Headers } from '@temporalio/common';
import type { WorkflowInterceptors } from '@temporalio/workflow';
import { OpenTelemetryInboundInterceptor, OpenTelemetryInternalsInterceptor, OpenTelemetryOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';

/** The header the OpenTelemetry interceptors carry the trace context in (their TRACE_HEADER). */
export const TRACE_HEADER = '_tracer-data';

const carries = (headers: Headers) => headers[TRACE_HEADER] !== undefined;

/** Interceptors per run: OpenTelemetry's, for runs started with a trace context; none otherwise. */
export const interceptors = (): WorkflowInterceptors => {
  // Per run: whether it was started traced, and OpenTelemetry's interceptors, made only if it was.
  let traced = false;
  let made: { inbound: OpenTelemetryInboundInterceptor; outbound: OpenTelemetryOutboundInterceptor; internals: OpenTelemetryInternalsInterceptor } | undefined;
  const otel = () => (made ??= { inbound: new OpenTelemetryInboundInterceptor(), outbound: new OpenTelemetryOutboundInterceptor(), internals: new OpenTelemetryInternalsInterceptor() });
  return {
    inbound: [
      {
        execute(input, next) {
          if (!carries(input.headers)) return next(input);
          traced = true;
          return otel().inbound.execute(input, next);
        },
        handleSignal: (input, next) => (carries(input.headers) ? otel().inbound.handleSignal(input, next) : next(input)),
        handleUpdate: (input, next) => (carries(input.headers) ? otel().inbound.handleUpdate(input, next) : next(input)),
        validateUpdate: (input, next) => (carries(input.headers) ? otel().inbound.validateUpdate(input, next) : next(input)),
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => (traced ? otel().outbound.scheduleActivity(input, next) : next(input)),
        scheduleLocalActivity: (input, next) => (traced ? otel().outbound.scheduleLocalActivity(input, next) : next(input)),
        startChildWorkflowExecution: (input, next) => (traced ? otel().outbound.startChildWorkflowExecution(input, next) : next(input)),
        signalWorkflow: (input, next) => (traced ? otel().outbound.signalWorkflow(input, next) : next(input)),
        getLogAttributes: (input, next) => (traced ? otel().outbound.getLogAttributes(input, next) : next(input)),
      },
    ],
    internals: [
      {
        dispose(input, next) {
          if (made === undefined) next(input);
          else void made.internals.dispose(input, next);
        },
      },
    ],
  };
};
