import { DEFAULT_BASEBACKUP_RETENTION_DAYS } from '../../basebackup/retention';
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { describeFailed, failedSummary } from '../basebackup/failed';

/** Base backups that failed verification (BACKUP_DIR/base/<sysid>/failed/): a warning with what to do, none when there are none. */
export async function checkFailedBaseBackups(config: Config): Promise<CheckResult[]> {
  let failed;
  try {
    failed = await failedSummary(config);
  } catch (err) {
    return [check('basebackup_failed', 'skip', `not checked: ${(err as Error).message}`)];
  }
  if (failed === null) return [];
  const { detail, hint } = describeFailed(failed, config.basebackup?.retentionDays ?? DEFAULT_BASEBACKUP_RETENTION_DAYS);
  return [check('basebackup_failed', 'warn', detail, hint)];
}
