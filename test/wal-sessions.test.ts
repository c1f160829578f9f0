// The archive restarts pg_receivewal session after session and continues as new before its history
// grows: across both, no segment is missing and the status carries over.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { walDir } from '../src/wal/layout';
import { archiveWal, stopWalArchive, walStatusQuery } from '../src/workflows/archiveWal';
import { eventually } from './eventually';
import { uniqueName } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';
import { archiveProblems, localSegments, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPgCluster();
});

afterAll(async () => {
  await cluster?.stop();
});

describe('the archive over many sessions', () => {
  it('continues as new after sessions_per_run sessions, with no segment missing and its count carried over', async () => {
    const config = onTemporal({ ...walConfigFor(cluster), s3: undefined });
    const local = path.join(config.backup.dir, walDir(await systemIdentifier(cluster)));
    const worker = await startTestWorker(config);
    const client = await testClient();
    const handle = await client.workflow.start(archiveWal, { args: [{ session_seconds: 2, sessions_per_run: 2 }], workflowId: uniqueName('wal-can'), taskQueue: config.temporal.taskQueue });
    const latest = client.workflow.getHandle(handle.workflowId);
    try {
      const switched: string[] = [];
      let lastSwitch = 0;
      await eventually(
        'a new run, five sessions in',
        async () => {
          // A segment every two seconds or so, written while sessions end and runs continue as new.
          if (Date.now() - lastSwitch > 2_000) {
            switched.push(await switchSegment(cluster));
            lastSwitch = Date.now();
          }
          const { runId } = await latest.describe();
          return { runId, status: await latest.query(walStatusQuery) };
        },
        (r) => r.runId !== handle.firstExecutionRunId && r.status.sessions_total >= 5,
        120_000,
      );
      const last = await switchSegment(cluster);
      await eventually('the last segment archived', async () => localSegments(local), (names) => names.includes(`${last}.gz`), 60_000);
      for (const s of switched) expect(localSegments(local)).toContain(`${s}.gz`);
      expect(archiveProblems(local)).toEqual([]);
    } finally {
      await latest.signal(stopWalArchive, { drop_slot: true });
      await latest.result();
      await worker.stop();
    }
  });
});
