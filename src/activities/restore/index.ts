import type { Config } from '../../config';
import { dropDatabase, restoreInPlace, restoreIntoNewDatabase, rollbackSwap, swapDatabases, verifyLiveDatabase, type TableCheck } from './databases';
import { checkBackupFile } from './checkFile';
import type { CreatedRole } from '../../backup/createdRoles';
import { prepareRestore, type PreparedRestore, type PrepareOptions } from './prepare';
import { dropScratchCopy, loadScratchCopy, type LoadedScratch, type ScratchPlace } from './scratchCopy';

/** The restore's activities. */
export function createRestoreActivities(config: Config) {
  return {
    async prepareRestore(filename: string, source: 'local' | 's3', options: PrepareOptions = {}): Promise<PreparedRestore> {
      return prepareRestore(config, filename, source, options);
    },
    /** With `{ scratch: true }` (a partial restore's copy of the backup): loaded where VERIFY_TARGET puts scratch databases. */
    async restoreIntoNewDatabase(prepared: PreparedRestore, target: string, options: { scratch?: boolean } = {}): Promise<{ check: TableCheck; roles_created: string[]; roles: CreatedRole[] } | LoadedScratch> {
      return options.scratch === true ? loadScratchCopy(config, prepared, target) : restoreIntoNewDatabase(config, prepared, target);
    },
    async swapDatabases(names: { live: string; incoming: string; aside: string | null }): Promise<{ aside_counts: Record<string, number> | null; live_oid?: number | null }> {
      return swapDatabases(config, names);
    },
    async verifyLiveDatabase(expected: Record<string, number> | null, extensions: string[], swapped?: { restored_oid: number }): Promise<TableCheck> {
      return verifyLiveDatabase(config, expected, extensions, swapped);
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
    /** With `{ scratch_server: 'verify' }`: a partial restore's copy on the scratch server. */
    async dropDatabase(name: string, options: { scratch_server?: ScratchPlace } = {}): Promise<void> {
      return options.scratch_server === 'verify' ? dropScratchCopy(config, name, 'verify') : dropDatabase(config, name);
    },
  };
}
