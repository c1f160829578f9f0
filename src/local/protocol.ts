// What passes between the local runner and Temporal's workflow sandbox: payloads, failures, log
// sinks, and the two ways a workflow can break the runner.
import {
  defaultFailureConverter,
  defaultPayloadConverter,
  type Logger,
  type Payload,
  type ProtoFailure,
} from '@temporalio/common';
import type { Workflow } from '@temporalio/worker/lib/workflow/interface';

/** A workflow task failed (a bug or non-determinism, not a workflow failure); a real worker would retry it forever. */
export class WorkflowTaskFailedError extends Error {
  override readonly name = 'WorkflowTaskFailedError';
}

/** The workflow produced a command the local runner cannot carry out. */
export class UnsupportedCommandError extends Error {
  override readonly name = 'UnsupportedCommandError';
}

/** Hands log lines from the workflow sandbox (workflow.log) to the caller. */
export type SinkLogger = (level: string, message: string, attrs: Record<string, unknown>) => void;

/** Hands the sandbox's workflow.log lines, gathered since the last activation, to `log`. */
export async function drainSinks(workflow: Workflow, log: SinkLogger): Promise<void> {
  const calls = await workflow.getAndResetSinkCalls();
  for (const call of calls) {
    if (call.ifaceName !== '__temporal_logger') continue;
    const [message, attrs] = call.args as [string, Record<string, unknown> | undefined];
    log(call.fnName, message, attrs ?? {});
  }
}

/** Activity log lines go to the same place as workflow.log lines. */
export function sinkToLogger(log: SinkLogger): Logger {
  const at = (level: string) => (message: string, meta?: Record<string, unknown>) => log(level, message, meta ?? {});
  return { log: (level, message, meta) => log(level, message, meta ?? {}), trace: at('trace'), debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/** A value as the payload the SDK's default converter makes. */
export function toPayload(value: unknown): Payload {
  return defaultPayloadConverter.toPayload(value);
}

/** A payload's value; undefined for none. */
export function fromPayload(payload: Payload | null | undefined): unknown {
  return payload == null ? undefined : defaultPayloadConverter.fromPayload(payload);
}

/** A failure from the sandbox as the error the Temporal client would throw. */
export function failureToError(failure: ProtoFailure): Error {
  return defaultFailureConverter.failureToError(failure, defaultPayloadConverter);
}
