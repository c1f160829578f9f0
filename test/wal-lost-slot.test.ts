// A slot the server gave up on (max_slot_wal_keep_size exceeded while the archive was stopped) must
// not be streamed on: pg_receivewal would start at the server's current position and the archive
// would have a silent gap. The archive refuses, names the gap and the way out, and after
// "fbb wal stop --drop-slot" starts again from now. A PostgreSQL of this file's own.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { walDir } from '../src/wal/layout';
import { archiveWal, stopWalArchive, walStatusQuery } from '../src/workflows/archiveWal';
import { eventually } from './eventually';
import { uniqueName } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';
import { localSegments, sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let config: Config;
let worker: TestWorker;
let local: string;

const start = async () => (await testClient()).workflow.start(archiveWal, { args: [{}], workflowId: uniqueName('wal-lost'), taskQueue: config.temporal.taskQueue });
const slot = () => sql<{ active: boolean; wal_status: string }>(cluster, "SELECT active, wal_status FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'");

beforeAll(async () => {
  cluster = await startPgCluster();
  await sql(cluster, "ALTER SYSTEM SET max_slot_wal_keep_size = '32MB'");
  await sql(cluster, 'SELECT pg_reload_conf()');
  config = onTemporal({ ...walConfigFor(cluster), s3: undefined });
  local = path.join(config.backup.dir, walDir(await systemIdentifier(cluster)));
  worker = await startTestWorker(config);
});

afterAll(async () => {
  await worker?.stop();
  await cluster?.stop();
});

describe('a lost slot', () => {
  it('is refused with WalArchiveFailed naming the gap; nothing after the gap is archived; --drop-slot and a new start archive from now', async () => {
    const first = await start();
    await eventually('the slot is streamed', slot, (r) => r[0]?.active === true, 60_000);
    const before = await switchSegment(cluster);
    await eventually('a segment archived', async () => localSegments(local), (n) => n.includes(`${before}.gz`), 60_000);
    await first.signal(stopWalArchive, { drop_slot: false });
    await first.result();

    // While nothing consumes the slot, the server writes past max_slot_wal_keep_size and gives the slot up.
    await sql(cluster, 'CREATE TABLE filler (x text)');
    for (let i = 0; i < 6; i++) await switchSegment(cluster).then(() => sql(cluster, "INSERT INTO filler SELECT repeat('x', 1000) FROM generate_series(1, 5000)"));
    await sql(cluster, 'CHECKPOINT');
    await sql(cluster, 'CHECKPOINT');
    expect(await slot()).toEqual([{ active: false, wal_status: 'lost' }]);
    const archived = localSegments(local);

    const second = await start();
    const status = await eventually('the archive refuses the lost slot', () => second.query(walStatusQuery), (s) => s.state === 'retrying', 90_000);
    expect(status.last_error?.type).toBe('WalArchiveFailed');
    expect(status.last_error?.message).toMatch(
      /^the server at 127\.0\.0\.1:\d+ gave up replication slot fbb_postgres \(wal_status lost: it kept more than max_slot_wal_keep_size = 32 MB for it\) and removed WAL the archive had not received: the archive has a gap from its newest segment to now, and streaming on would hide it; run "fbb wal stop --drop-slot" and "fbb wal start" to archive from now on, then take a new base backup \(restores cannot cross the gap\)$/,
    );
    expect(localSegments(local)).toEqual(archived);
    await second.signal(stopWalArchive, { drop_slot: true });
    expect(await second.result()).toMatchObject({ state: 'stopped', slot_dropped: true });

    const third = await start();
    await eventually('a new slot is streamed', slot, (r) => r[0]?.active === true && r[0].wal_status !== 'lost', 60_000);
    const after = await switchSegment(cluster);
    await eventually('archived from now on', async () => localSegments(local), (n) => n.includes(`${after}.gz`), 60_000);
    await third.signal(stopWalArchive, { drop_slot: true });
    await third.result();
  });
});
