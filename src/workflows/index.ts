// Every workflow the worker registers.
export { checkEnvironment } from './checkEnvironment';
export { backupDatabase, progressQuery } from './backupDatabase';
export { listBackups } from './listBackups';
export { restoreDatabase, confirmRestore, cancelRestore, confirmRestoreUpdate, cancelRestoreUpdate, statusQuery } from './restoreDatabase';
export { databaseLock } from './lock';
export { restoreDrill } from './restoreDrill';
export { restoreTenant, partialStatusQuery } from './restoreTenant';
export { restoreTable } from './restoreTable';
export { baseBackup } from './baseBackup';
export { restoreToTime } from './restoreToTime';
export { archiveWal, stopWalArchive, walStatusQuery } from './archiveWal';
export { pruneBaseBackups } from './pruneBaseBackups';
// Each type's Worker Versioning behaviour (PINNED restores, AUTO_UPGRADE the rest).
export { VERSIONING_BEHAVIORS } from './versioning';
