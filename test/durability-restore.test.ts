// Kill matrix, the restore's last step: a worker PROCESS SIGKILLed while it verifies the live
// database right after the swap (FBB_TEST_PAUSE_AT="count <database>" stops it as it starts counting
// the live database's rows). Afterwards the live database is the restored one, verified by another
// worker, never anything in between; the database set aside is kept (and listed), nothing else is left.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeTimeoutType } from '@temporalio/common';
import { asideDatabases } from '../src/activities/catalog';
import { confirmRestore } from '../src/workflows';
import { buildWorker, dropOurDatabases, kill, killAllWorkers, leftoverDatabases, printed, printRecoveries, recovered, startWorker, waitingRestore } from './durability';
import { fingerprint, withAdmin } from './helpers';

beforeAll(buildWorker, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await dropOurDatabases();
  printRecoveries();
});

describe('a worker SIGKILLed during the live verification after the swap', () => {
  it('another worker verifies the restored database and the restore succeeds; only the database set aside is left, and it is listed', async () => {
    // No pre-restore backup: it is taken after the confirmation and would count the live database first, meeting the pause meant for the check after the swap.
    const { db, config, atBackup, handle } = await waitingRestore('dur_live', { create_pre_restore_backup: false });
    const paused = startWorker(config, { FBB_TEST_PAUSE_AT: `count ${db}` });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await printed(paused, `test pause at count ${db}`);
    await kill(paused);
    const killedAt = Date.now();
    // Killed after the swap committed: the live database is the restored one, whole, and takes connections.
    expect(await fingerprint(db)).toEqual(atBackup);
    const live = await withAdmin((c) => c.query<{ datallowconn: boolean }>('SELECT datallowconn FROM pg_database WHERE datname = $1', [db]));
    expect(live.rows).toEqual([{ datallowconn: true }]);

    void startWorker(config);
    const result = await handle.result();
    recovered('restore, worker killed during the live verification after the swap', killedAt);
    expect(result).toMatchObject({ status: 'success', strategy: 'swap', verification: { ok: true } });
    expect(await fingerprint(db)).toEqual(atBackup);
    expect(await leftoverDatabases(config, [])).toEqual([]);
    const aside = (await asideDatabases(config)).map((a) => a.name);
    expect(aside).toHaveLength(1);
    expect(result).toMatchObject({ aside_database: aside[0], rollback: null });
  }, 300_000);
});

// Issue 26 (found by the soak, seed 2525 cycle 119: restore × SIGKILL of the worker running it): the worker
// was killed while it recorded the pre-restore backup in system_logs, an activity of milliseconds without
// heartbeats; the retry waited out the call's 2-minute limit (the restore took 136.7 s).
describe('a worker SIGKILLed while it records the pre-restore backup', () => {
  it('another worker records it once the attempt stops heartbeating, and the restore succeeds', async () => {
    const { db, config, atBackup, handle } = await waitingRestore('dur_record');
    const paused = startWorker(config, { FBB_TEST_PAUSE_AT: 'record' });
    await handle.signal(confirmRestore, { confirmed_by: 'durability test' });
    await printed(paused, 'test pause at record');
    void startWorker(config);
    await kill(paused);
    const killedAt = Date.now();

    const result = await handle.result();
    recovered('restore, worker killed while it recorded the pre-restore backup', killedAt);
    expect(result).toMatchObject({ status: 'success', strategy: 'swap', verification: { ok: true } });
    expect(await fingerprint(db)).toEqual(atBackup);
    // The retry came because the attempt stopped heartbeating (15 s), not at the 2-minute limit.
    const started = ((await handle.fetchHistory()).events ?? []).map((e) => e.activityTaskStartedEventAttributes).filter((a) => a?.lastFailure?.timeoutFailureInfo);
    expect(started.map((a) => decodeTimeoutType(a!.lastFailure!.timeoutFailureInfo!.timeoutType))).toEqual(['HEARTBEAT']);
  }, 600_000);
});
