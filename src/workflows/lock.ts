// One backup or restore per database at a time, as the workflows take it.
import { CancellationScope, workflowInfo } from '@temporalio/workflow';
import { quick } from './proxies';

/**
 * Runs `fn` holding the database's lock, and releases it however `fn` ends (a cancellation
 * included). The one place the workflows take the lock, so its kind can change behind it.
 */
export async function withDatabaseLock<T>(kind: 'backup' | 'restore', fn: () => Promise<T>): Promise<T> {
  const { workflowId } = workflowInfo();
  await quick.acquireBackupLock({ workflow_id: workflowId, kind });
  try {
    return await fn();
  } finally {
    await CancellationScope.nonCancellable(() => quick.releaseBackupLock(workflowId));
  }
}
