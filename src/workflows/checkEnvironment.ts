import { overallStatus, type CheckEnvironmentInput, type DoctorReport } from '../doctor/report';
import { parseDoctorInput } from '../backup/workflowInputs';
import { checks } from './proxies';

/** `fbb doctor`: checks what the Windmill guide's troubleshooting section asked people to check by hand. */
export async function checkEnvironment(rawInput?: CheckEnvironmentInput): Promise<DoctorReport> {
  const input = parseDoctorInput(rawInput);
  const [databaseAndTools, pgvector, backupDir, s3, temporal] = await Promise.all([
    checks.checkDatabaseAndTools({ notify_test: input.notify_test === true }),
    checks.checkPgvector(),
    checks.checkBackupDir(),
    checks.checkS3(),
    input.mode === 'local'
      ? Promise.resolve({ name: 'temporal', status: 'skip' as const, detail: 'not checked: --local runs on a throwaway Temporal server of its own, not on TEMPORAL_ADDRESS' })
      : checks.checkTemporal(),
  ]);
  const all = [...databaseAndTools, ...pgvector, backupDir, s3, temporal];
  return { status: overallStatus(all), checks: all };
}
