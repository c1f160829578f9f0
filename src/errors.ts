// Named failures. Each is an ApplicationFailure whose `type` workflows, the CLI and tests match on.
import { ApplicationFailure } from '@temporalio/common';

/** Every expected failure type, in one place (docs/design.md lists them too). */
export const ErrorType = {
  InvalidBackupInput: 'InvalidBackupInput',
  InvalidInput: 'InvalidInput',
  DatabaseBusy: 'DatabaseBusy',
  WorkerLost: 'WorkerLost',
  DatabaseUnreachable: 'DatabaseUnreachable',
  DatabaseConnectionLost: 'DatabaseConnectionLost',
  BackupDirNotWritable: 'BackupDirNotWritable',
  BackupDirFull: 'BackupDirFull',
  DumpFailed: 'DumpFailed',
  BackupCorrupted: 'BackupCorrupted',
  BackupVerificationFailed: 'BackupVerificationFailed',
  ScratchDatabaseUnavailable: 'ScratchDatabaseUnavailable',
  UploadFailed: 'UploadFailed',
  S3NotConfigured: 'S3NotConfigured',
  BackupNotFound: 'BackupNotFound',
  ManifestUnreadable: 'ManifestUnreadable',
  BackupUnverified: 'BackupUnverified',
  BackupEmpty: 'BackupEmpty',
  BackupTruncated: 'BackupTruncated',
  BackupUnrelated: 'BackupUnrelated',
  BackupTooSmall: 'BackupTooSmall',
  BackupFromOtherDatabase: 'BackupFromOtherDatabase',
  InvalidBackupName: 'InvalidBackupName',
  InvalidRestoreInput: 'InvalidRestoreInput',
  ExtensionUnavailable: 'ExtensionUnavailable',
  RolesMissing: 'RolesMissing',
  CannotCreateDatabase: 'CannotCreateDatabase',
  RestoreFailed: 'RestoreFailed',
  DatabaseInUse: 'DatabaseInUse',
  RestoreVerificationFailed: 'RestoreVerificationFailed',
  RollbackFailed: 'RollbackFailed',
  DrillFailed: 'DrillFailed',
  NotificationFailed: 'NotificationFailed',
  TenantRestoreConflict: 'TenantRestoreConflict',
  TableRestoreConflict: 'TableRestoreConflict',
  EncryptionKeyMissing: 'EncryptionKeyMissing',
  EncryptionKeyMismatch: 'EncryptionKeyMismatch',
  RestoreCancelled: 'RestoreCancelled',
  RestoreExpired: 'RestoreExpired',
  RestoreUpdateRejected: 'RestoreUpdateRejected',
  ClientToolsMismatch: 'ClientToolsMismatch',
  ServerTooOld: 'ServerTooOld',
  SchedulePaused: 'SchedulePaused',
  ScheduleMissedRuns: 'ScheduleMissedRuns',
  BaseBackupFailed: 'BaseBackupFailed',
  RecoveryTargetOutsideWindow: 'RecoveryTargetOutsideWindow',
  TargetDirNotEmpty: 'TargetDirNotEmpty',
  WalArchiveDamaged: 'WalArchiveDamaged',
  RecoveryFailed: 'RecoveryFailed',
  WalArchiveFailed: 'WalArchiveFailed',
  WalPrerequisiteMissing: 'WalPrerequisiteMissing',
  VerifyServerUnavailable: 'VerifyServerUnavailable',
  VerifyServerLacksExtensions: 'VerifyServerLacksExtensions',
  BaseBackupVerificationFailed: 'BaseBackupVerificationFailed',
  WalArchiveNotRunning: 'WalArchiveNotRunning',
  S3Unavailable: 'S3Unavailable',
} as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];

/** A failure that retrying cannot fix: bad input, corrupt data, a full or read-only disk. */
export function permanent(type: ErrorType, message: string, cause?: unknown, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...(cause instanceof Error ? { cause } : {}), ...(details === undefined ? {} : { details: [details] }) });
}

/** A failure worth retrying per the activity's policy: a dropped connection, a busy server. */
export function transient(type: ErrorType, message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false, ...(cause instanceof Error ? { cause } : {}) });
}
