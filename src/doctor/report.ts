// The doctor's report: pure types and rules shared by the workflow, the activities and the CLI.

/** ok: fine; warn: works, but look; fail: backups or restores will not work; skip: not applicable here. */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

/** One check, as printed by `fbb doctor` and returned in JSON. */
export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  /** What to do next; present on warn and fail. */
  hint?: string;
}

/** Everything `fbb doctor` found; `status` is the worst of the checks. */
export interface DoctorReport {
  status: 'ok' | 'warn' | 'fail';
  checks: CheckResult[];
}

/** Input of the checkEnvironment workflow: 'local' skips the Temporal check (no server involved). */
export interface CheckEnvironmentInput {
  mode: 'local' | 'temporal';
  /** fbb doctor --notify-test: POST a test notification to each webhook. */
  notify_test?: boolean;
}

/** The worst status among the checks; skips count as ok. */
export function overallStatus(checks: readonly CheckResult[]): DoctorReport['status'] {
  if (checks.some((c) => c.status === 'fail')) return 'fail';
  if (checks.some((c) => c.status === 'warn')) return 'warn';
  return 'ok';
}

/** Builds a check result; hints are kept only where they tell the reader something to do. */
export function check(name: string, status: CheckStatus, detail: string, hint?: string): CheckResult {
  return hint === undefined || status === 'ok' || status === 'skip' ? { name, status, detail } : { name, status, detail, hint };
}
