// Issue 12, "the worker can be killed by its own database connection": the real CLI in a child
// process (a crash fails the test instead of killing vitest), against servers that go away.
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../src/activities/backup/dump';
import { ErrorType } from '../src/errors';
import type { PgCluster } from '../src/sample/pgCluster';
import { ensureBuilt, fbbEnv, outcome, pgCtl, sampleCluster, slowPgDumpBinDir, startFbb, waitFor } from './faults';
import { createDatabase, dropDatabase, runActivity, testConfig, withAdmin } from './helpers';

beforeAll(async () => {
  await ensureBuilt();
}, 600_000);

/** The failure's type and retryability, whatever wraps it. */
function failureOf(err: unknown): { type?: string; nonRetryable?: boolean; message: string } {
  const e = err as { type?: string; nonRetryable?: boolean; message: string };
  return { type: e.type, nonRetryable: e.nonRetryable, message: e.message };
}

describe('a database that ends idle transactions (idle_in_transaction_session_timeout = 1s)', () => {
  let database: string;
  beforeAll(async () => {
    database = await createDatabase('idle_timeout');
    await withAdmin((c) => c.query(`ALTER DATABASE ${database} SET idle_in_transaction_session_timeout = '1s'`));
  });
  afterAll(async () => dropDatabase(database));

  it('is backed up even when pg_dump runs longer than the timeout, and the process does not crash', async () => {
    const base = testConfig({ database });
    // pg_dump takes 3 s: the snapshot session sits idle in its transaction meanwhile.
    const config = { ...base, pgBinDir: slowPgDumpBinDir(base.pgBinDir!, 3) };
    const run = await startFbb(['backup', '--local', '--json', '--no-cleanup'], fbbEnv(config));
    expect(run.all).not.toMatch(/Unhandled 'error' event|Connection terminated unexpectedly/);
    expect(outcome(run)).toMatchObject({ exit: 0 });
    const result = JSON.parse(run.stdout) as { status: string; verified: { ok: boolean } | null; tables_backed_up: number };
    expect(result.status).toBe('success');
    expect(result.verified?.ok).toBe(true);
    expect(result.tables_backed_up).toBeGreaterThan(5);
  });
});

describe('a server stopped mid-dump (pg_ctl -m immediate stop)', () => {
  let cluster: PgCluster & { config: (base: ReturnType<typeof testConfig>) => ReturnType<typeof testConfig> };
  beforeAll(async () => {
    cluster = await sampleCluster();
  });
  afterAll(async () => cluster?.stop());

  it('does not crash the process; the dump is retried once the server is back and the backup succeeds', async () => {
    const base = cluster.config(testConfig());
    const config = { ...base, pgBinDir: slowPgDumpBinDir(cluster.binDir, 3) };
    // The dump is retried after 5 s, then 10 s (production: 30 s, 60 s): room enough for the restart below.
    const run = startFbb(['backup', '--local', '--json', '--no-cleanup'], fbbEnv(config, { ACTIVITY_RETRY_INTERVAL_SECONDS: '5' }));
    // pg_dump has started (its partial file exists) and the snapshot session waits for it.
    await waitFor('the partial dump file', () => fs.readdirSync(config.backup.dir).find((f) => f.includes('.partial-')), run);
    await pgCtl(cluster, ['-m', 'immediate', 'stop']);
    await pgCtl(cluster, ['-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);
    const result = await run;
    expect(result.all).not.toMatch(/Unhandled 'error' event/);
    expect(outcome(result)).toMatchObject({ exit: 0 });
    expect((JSON.parse(result.stdout) as { status: string }).status).toBe('success');
    expect(fs.readdirSync(config.backup.dir).filter((f) => f.includes('.partial-'))).toEqual([]);
  });

  it('ends the attempt with a retryable DatabaseConnectionLost when the server goes away under a running pg_dump, leaving no file that looks like a backup', async () => {
    const base = cluster.config(testConfig());
    const config = { ...base, pgBinDir: slowPgDumpBinDir(cluster.binDir, 2) };
    const admin = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'family_brain' });
    admin.on('error', () => undefined);
    await admin.connect();
    try {
      const dump = runActivity(dumpDatabase, config, { filename: 'family_brain_manual_20261201_120000.sql.gz', type: 'manual', format: 'plain_gzip', workflowId: 'outage-test' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      await waitFor('the partial dump file', () => fs.readdirSync(config.backup.dir).find((f) => f.includes('.partial-')));
      // Queue an exclusive lock behind the snapshot session's: pg_dump, once it starts, waits behind it.
      const locking = admin.query('BEGIN; LOCK TABLE tags IN ACCESS EXCLUSIVE MODE').catch(() => undefined);
      await waitFor('pg_dump waiting for a lock', async () => {
        const probe = new pg.Client({ host: cluster.host, port: cluster.port, user: cluster.user, password: cluster.password, database: 'postgres' });
        await probe.connect();
        try {
          const { rowCount } = await probe.query("SELECT 1 FROM pg_stat_activity WHERE application_name = 'family-brain-backup' AND wait_event_type = 'Lock'");
          return rowCount === 1 ? true : undefined;
        } finally {
          await probe.end();
        }
      });
      await pgCtl(cluster, ['-m', 'immediate', 'stop']);
      const err = await dump;
      await locking;
      expect(failureOf(err)).toMatchObject({ type: ErrorType.DatabaseConnectionLost, nonRetryable: false });
      expect(failureOf(err).message).toMatch(/lost the connection to database "family_brain" at 127\.0\.0\.1:\d+/);
      // Only the hidden partial file, emptied: the record of the scratch database the server took down
      // with it, which the next backup or restore drops before removing the file (faults-verify tests that).
      const left = fs.readdirSync(config.backup.dir);
      expect(left).toEqual([expect.stringMatching(/^\.family_brain_manual_20261201_120000\.sql\.gz\.partial-[0-9a-f]{8}$/)]);
      expect(fs.statSync(path.join(config.backup.dir, left[0]!)).size).toBe(0);
    } finally {
      await admin.end().catch(() => undefined);
      await pgCtl(cluster, ['-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);
    }
  });
});
