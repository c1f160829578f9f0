import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { overallStatus, type CheckEnvironmentInput, type DoctorReport } from '../doctor/report';

// Checks report problems as data; a retry only helps with the unexpected (a crash mid-check).
const checks = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 2, initialInterval: '1 second' },
});

/** `fbb doctor`: checks what the Windmill guide's troubleshooting section asked people to check by hand. */
export async function checkEnvironment(input: CheckEnvironmentInput = { mode: 'temporal' }): Promise<DoctorReport> {
  const [databaseAndTools, pgvector, backupDir, s3, temporal] = await Promise.all([
    checks.checkDatabaseAndTools(),
    checks.checkPgvector(),
    checks.checkBackupDir(),
    checks.checkS3(),
    input.mode === 'local'
      ? Promise.resolve({ name: 'temporal', status: 'skip' as const, detail: 'not checked: --local runs in this process without a Temporal server' })
      : checks.checkTemporal(),
  ]);
  const all = [...databaseAndTools, ...pgvector, backupDir, s3, temporal];
  return { status: overallStatus(all), checks: all };
}
