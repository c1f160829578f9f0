import type { Config } from '../../config';
import type { CheckResult } from '../../doctor/report';
import { checkBackupDir } from './backupDir';
import { checkDatabase } from './database';
import { checkLeftovers } from './leftovers';
import { checkNotifications } from './notify';
import { checkPgvector } from './pgvector';
import { checkPrivileges } from './privileges';
import { checkS3 } from './s3';
import { checkTemporal } from './temporal';
import { checkTemporalCli } from './temporalCli';
import { checkClientTools } from './tools';
import { checkWalPrerequisites } from './wal';
import { checkFailedBaseBackups } from './failedBaseBackups';

/** The doctor's activities; each returns check results and throws only on the unexpected. */
export function createDoctorActivities(config: Config) {
  return {
    /** Database reachability, then the client tools against the server's version, and the Temporal CLI (a check added here keeps the workflow's history unchanged). */
    async checkDatabaseAndTools(options: { notify_test?: boolean } = {}): Promise<CheckResult[]> {
      const { result, facts } = await checkDatabase(config.database);
      const [tools, temporalCli, leftovers, notifications, wal, privileges] = await Promise.all([
        checkClientTools(config.pgBinDir, facts?.serverMajor, config.backup.format),
        checkTemporalCli(),
        facts ? checkLeftovers(config) : Promise.resolve([]),
        checkNotifications(config, options.notify_test === true),
        facts ? checkWalPrerequisites(config) : Promise.resolve([]),
        facts ? checkPrivileges(config, facts.serverMajor) : Promise.resolve([]),
      ]);
      return [result, ...tools, temporalCli, ...leftovers, notifications, ...privileges, ...wal, ...(await checkFailedBaseBackups(config))];
    },
    async checkPgvector(): Promise<CheckResult[]> {
      return checkPgvector(config.database);
    },
    async checkBackupDir(): Promise<CheckResult> {
      return checkBackupDir(config.backup.dir);
    },
    async checkS3(): Promise<CheckResult> {
      return checkS3(config.s3);
    },
    async checkTemporal(): Promise<CheckResult> {
      return checkTemporal(config.temporal);
    },
  };
}
