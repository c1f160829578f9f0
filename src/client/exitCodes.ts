// Exit codes of the fbb CLI, documented in the README; scripts may rely on them.
export const ExitCode = {
  /** The command did what was asked (a doctor report may still contain warnings). */
  ok: 0,
  /** The job ran and failed: a check failed, a backup failed. */
  failed: 1,
  /** Bad input: unknown flag, invalid configuration. Nothing was started. */
  badInput: 2,
  /** Cannot reach Temporal, or no worker picked up the task (use --local or start them); or Temporal went away mid-run: outcome unknown. */
  cannotConnect: 3,
  /** A restore failed after it began and was rolled back: the database is as it was. */
  rolledBack: 4,
  /** A restore was cancelled or its confirmation expired: nothing was changed. */
  cancelled: 5,
} as const;

/** An error the CLI reports as one message and an exit code, without a stack trace. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
    /** For --json: the failure's type and the next step, when known. */
    readonly info: { type?: string; next?: string } = {},
  ) {
    super(message);
  }
}
