// The WAL archive tells the webhooks when archiving stops and when it falls behind more than
// WAL_MAX_LAG_SECONDS: a real worker on the test Temporal server, a PostgreSQL of this file's own,
// a real HTTP receiver.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { archiveWal, stopWalArchive, walStatusQuery } from '../src/workflows/archiveWal';
import { eventually } from './eventually';
import { uniqueName } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';
import { sql, walConfigFor } from './wal';
import { startReceiver, type Receiver } from './webhook';

let cluster: PgCluster;
let receiver: Receiver;

beforeAll(async () => {
  cluster = await startPgCluster();
  receiver = await startReceiver('wal-token');
});

afterAll(async () => {
  await receiver?.stop();
  await cluster?.stop();
});

/** Runs the archive with `config` on a worker of its own until `fn` is done, then stops it. */
async function withArchive(config: Config, fn: (handle: Awaited<ReturnType<Awaited<ReturnType<typeof testClient>>['workflow']['start']>>) => Promise<void>): Promise<void> {
  const worker = await startTestWorker(config);
  const client = await testClient();
  const handle = await client.workflow.start(archiveWal, { args: [{}], workflowId: uniqueName('wal-notify'), taskQueue: config.temporal.taskQueue });
  try {
    await fn(handle);
  } finally {
    await handle.signal(stopWalArchive, { drop_slot: true });
    await handle.result();
    await worker.stop();
  }
}

describe('WAL archive notifications', () => {
  it('tell the webhooks once when the archive falls further behind than WAL_MAX_LAG_SECONDS', async () => {
    // The partial segment is copied only hourly, so a write leaves the archive behind.
    const config = onTemporal({ ...walConfigFor(cluster, { partialSeconds: 3600, maxLagSeconds: 2 }), notify: { webhookUrls: [receiver.url], on: 'failure' } });
    await withArchive(config, async () => {
      await eventually('the slot is streamed', () => sql<{ active: boolean }>(cluster, 'SELECT active FROM pg_replication_slots'), (r) => r[0]?.active === true, 60_000);
      await sql(cluster, 'CREATE TABLE lagging AS SELECT g FROM generate_series(1, 1000) g');
      const got = await eventually('the lag notification', async () => receiver.received.filter((r) => r.body.status === 'lagging'), (r) => r.length > 0, 90_000);
      expect(got[0]!.body).toMatchObject({ kind: 'wal', outcome: 'failure', workflow_type: 'archiveWal', error: { type: 'WalArchiveFailed' } });
      expect(got[0]!.body.error!.message).toMatch(/^the WAL archive of 127\.0\.0\.1:\d+ is \d+ s \(\d+ bytes\) behind the server, more than WAL_MAX_LAG_SECONDS=2; the slot fbb_postgres keeps the WAL meanwhile$/);
      expect(got[0]!.body.text).toMatch(/^fbb: WAL archive of postgres LAGGING/);
      expect(got[0]!.raw).not.toContain(cluster.password);
      // Once per episode: still lagging a while later, still one notification.
      await new Promise((r) => setTimeout(r, 8_000));
      expect(receiver.received.filter((r) => r.body.status === 'lagging')).toHaveLength(1);
    });
  });

  it('tell the webhooks when archiving stops, naming the missing prerequisite; the archive retries until stopped', async () => {
    await sql(cluster, "CREATE ROLE walless LOGIN PASSWORD 'walless-pw'");
    const base = walConfigFor(cluster);
    const config = onTemporal({ ...base, database: { ...base.database, user: 'walless', password: 'walless-pw' }, notify: { webhookUrls: [receiver.url], on: 'failure' } });
    await withArchive(config, async (handle) => {
      const got = await eventually('the stop notification', async () => receiver.received.filter((r) => r.body.status === 'stopped'), (r) => r.length > 0, 90_000);
      expect(got[0]!.body).toMatchObject({ kind: 'wal', outcome: 'failure', workflow_id: handle.workflowId, error: { type: 'WalPrerequisiteMissing' } });
      expect(got[0]!.body.error!.message).toContain('WAL archiving stopped and is retried every minute: the WAL archive cannot stream from walless@127.0.0.1:');
      expect(got[0]!.body.error!.message).toContain('ALTER ROLE walless REPLICATION');
      expect(got[0]!.body.next_step).toBe("fix the database server's settings as fbb doctor says, then fbb wal start");
      const status = await handle.query(walStatusQuery);
      expect(status.state).toBe('retrying');
      expect(status.last_error?.type).toBe('WalPrerequisiteMissing');
    });
  });
});
