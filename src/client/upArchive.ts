// `fbb up` starts the WAL archive when the database allows it (the doctor's wal_* checks), and says in
// one line why not otherwise: backups by dump work without it; point-in-time recovery does not.
import type { Client } from '@temporalio/client';
import { checkWalPrerequisites } from '../activities/doctor/wal';
import type { Config } from '../config';
import { startArchive, walArchiveRunning } from './commands/wal';

/** What `fbb up` did about the archive: whether it runs now, and the line its summary shows. */
export interface UpArchive {
  running: boolean;
  line: string;
}

/** Attaches to the running archive, or starts it when every prerequisite holds; otherwise names the first one missing and its fix. */
export async function startArchiveWhenAllowed(client: Client, config: Config): Promise<UpArchive> {
  if (await walArchiveRunning(client, config)) {
    const out = await startArchive(client, config, undefined);
    return { running: true, line: `${out.workflow_id}, running since ${out.since} ("fbb wal status")` };
  }
  // A slot left by an earlier archive with nothing streaming is what the archive resumes from: no reason not to start.
  const missing = (await checkWalPrerequisites(config)).filter((c) => c.status !== 'ok' && !(c.name === 'wal_slot' && !c.detail.includes('slots are taken')));
  const first = missing[0];
  if (first !== undefined) {
    return { running: false, line: `not started: ${first.detail}${first.hint ? `; ${first.hint}` : ''}; "fbb doctor" checks every prerequisite` };
  }
  const out = await startArchive(client, config, undefined);
  return { running: true, line: `${out.workflow_id} started ("fbb wal status")` };
}
