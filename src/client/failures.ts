import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { ConfigError } from '../config';
import { CliError, ExitCode } from './exitCodes';

/** Failure types that mean "the input was wrong": exit 2, as for a bad flag. */
const BAD_INPUT = new Set(['InvalidBackupInput', 'InvalidRestoreInput', 'InvalidBackupName', 'S3NotConfigured', 'RecoveryTargetOutsideWindow', 'TargetDirNotEmpty']);

/** The innermost ApplicationFailure of a workflow failure, if there is one. */
export function applicationFailureOf(err: unknown): ApplicationFailure | undefined {
  let e: unknown = err;
  while (e instanceof WorkflowFailedError || e instanceof ActivityFailure) e = e.cause;
  return e instanceof ApplicationFailure ? e : undefined;
}

/** What --json prints on stdout when a command fails: one shape for every failure. */
export function failureJson(err: CliError | ConfigError): { status: 'error'; error: { type: string; message: string; next: string | null }; exit_code: number } {
  if (err instanceof ConfigError) {
    return { status: 'error', error: { type: 'InvalidConfiguration', message: err.message, next: 'fix the variables named above (fbb doctor --local checks them)' }, exit_code: ExitCode.badInput };
  }
  const type = err.info.type ?? /failed: (\w+): /.exec(err.message)?.[1] ?? 'Error';
  return { status: 'error', error: { type, message: err.message, next: err.info.next ?? null }, exit_code: err.exitCode };
}

/** One line for a failed run, and its exit code. */
export function describeFailure(what: string, err: unknown): { message: string; exitCode: number; type?: string } {
  const failure = applicationFailureOf(err);
  if (failure) {
    const code = BAD_INPUT.has(failure.type ?? '') ? ExitCode.badInput : ExitCode.failed;
    return { message: `${what} failed: ${failure.type ?? 'Error'}: ${failure.message}`, exitCode: code, type: failure.type ?? 'Error' };
  }
  if (err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure) {
    return { message: `${what} was cancelled`, exitCode: ExitCode.failed };
  }
  const message = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
  return { message: `${what} failed: ${message}`, exitCode: ExitCode.failed };
}

/**
 * True when `err` says the Temporal server stopped answering (gRPC 14 UNAVAILABLE) while the CLI
 * waited for a run: the run itself may well go on (on the server, on its worker), so its outcome
 * is unknown here, not failed.
 */
export function temporalServerLost(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if ((e as { code?: unknown }).code === 14 || /^14 UNAVAILABLE/.test(e.message)) return true;
  }
  return false;
}

/** The message and next step for a run whose outcome is unknown because the Temporal server went away. */
export function outcomeUnknown(what: string, workflowId: string, address: string, err: unknown): CliError {
  const detail = err instanceof Error ? err.message.split('\n')[0] : String(err);
  const next = `once the Temporal server answers again, check it with: fbb status ${workflowId}`;
  return new CliError(
    `lost the Temporal server at ${address} while ${what} ${workflowId} was running (${detail}); the run was not stopped and may still be going on, so its outcome is unknown here; ${next}`,
    ExitCode.cannotConnect,
    { type: 'OutcomeUnknown', next },
  );
}
