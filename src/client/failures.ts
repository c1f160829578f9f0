import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ExitCode } from './exitCodes';

/** Failure types that mean "the input was wrong": exit 2, as for a bad flag. */
const BAD_INPUT = new Set(['InvalidBackupInput', 'InvalidRestoreInput', 'InvalidBackupName', 'S3NotConfigured']);

/** The innermost ApplicationFailure of a workflow failure, if there is one. */
export function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let e: unknown = err;
  while (e instanceof WorkflowFailedError || e instanceof ActivityFailure) e = e.cause;
  return e instanceof ApplicationFailure ? e : undefined;
}

/** One line for a failed run, and its exit code. */
export function describeFailure(what: string, err: unknown): { message: string; exitCode: number } {
  const failure = applicationFailureOf(err);
  if (failure) {
    const code = BAD_INPUT.has(failure.type ?? '') ? ExitCode.badInput : ExitCode.failed;
    return { message: `${what} failed: ${failure.type ?? 'Error'}: ${failure.message}`, exitCode: code };
  }
  if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
    return { message: `${what} was cancelled`, exitCode: ExitCode.failed };
  }
  const message = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
  return { message: `${what} failed: ${message}`, exitCode: ExitCode.failed };
}
