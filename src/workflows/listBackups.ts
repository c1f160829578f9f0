import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { Catalog } from '../activities/catalog';

const { listCatalog } = proxyActivities<Activities>({
  startToCloseTimeout: '5 minutes',
  retry: { maximumAttempts: 3, initialInterval: '2 seconds' },
});

/** Input of listBackups, as in the Windmill guide: `{"include_s3": true}`. */
export interface ListBackupsInput {
  include_s3?: boolean;
}

/** `fbb list`: the backup catalogue, newest first. */
export async function listBackups(input: ListBackupsInput = {}): Promise<Catalog> {
  return await listCatalog(input.include_s3 === true);
}
