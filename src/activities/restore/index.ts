import type { Config } from '../../config';
import { dropDatabase, restoreInPlace, restoreIntoNewDatabase, rollbackSwap, swapDatabases, verifyLiveDatabase, type TableCheck } from './databases';
import { checkBackupFile } from './checkFile';
import type { CreatedRole } from '../../backup/createdRoles';
import { prepareRestore, type PreparedRestore, type PrepareOptions } from './prepare';

/** The restore's activities. */
export function createRestoreActivities(config: Config) {
  return {
    async prepareRestore(filename: string, source: 'local' | 's3', options: PrepareOptions = {}): Promise<PreparedRestore> {
      return prepareRestore(config, filename, source, options);
    },
    async restoreIntoNewDatabase(prepared: PreparedRestore, target: string): Promise<{ check: TableCheck; roles_created: string[]; roles: CreatedRole[] }> {
      return restoreIntoNewDatabase(config, prepared, target);
    },
    async swapDatabases(names: { live: string; incoming: string; aside: string | null }): Promise<{ aside_counts: Record<string, number> | null }> {
      return swapDatabases(config, names);
    },
    async verifyLiveDatabase(expected: Record<string, number> | null, extensions: string[]): Promise<TableCheck> {
      return verifyLiveDatabase(config, expected, extensions);
    },
    async rollbackSwap(names: { live: string; aside: string | null; failed: string; incoming: string }, expected: Record<string, number> | null): Promise<TableCheck & { swapped_back: boolean }> {
      return rollbackSwap(config, names, expected);
    },
    async restoreInPlace(prepared: PreparedRestore, step: 'restore' | 'rollback'): Promise<void> {
      return restoreInPlace(config, prepared, step);
    },
    async checkBackupFile(filename: string): Promise<{ sha256: string; table_details: Record<string, number> }> {
      return checkBackupFile(config, filename);
    },
    async dropDatabase(name: string): Promise<void> {
      return dropDatabase(config, name);
    },
  };
}
