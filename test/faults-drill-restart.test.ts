// Issue 26 (found by the soak, seed 4 cycle 5: drill × pg_ctl -m immediate restart): a drill whose
// psql connects while the database server restarts. The real CLI in a child process; the server is
// stopped at the moment the drill's psql connects (it waits in a PG_BIN_DIR whose psql sleeps first).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgCluster } from '../src/sample/pgCluster';
import { slowBinDirFor } from './durability';
import { ensureBuilt, fbbEnv, outcome, pgCtl, runFbb, sampleCluster, startFbb, waitFor } from './faults';
import { testConfig, withServer } from './helpers';
import { processesMentioning } from './spawned';

let cluster: PgCluster & { config: (base: ReturnType<typeof testConfig>) => ReturnType<typeof testConfig> };

beforeAll(async () => {
  [cluster] = await Promise.all([sampleCluster(), ensureBuilt()]);
}, 600_000);

afterAll(async () => cluster?.stop());

const drillDatabases = async () =>
  (await withServer(cluster, 'postgres', (c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_drill\\_%'"))).rows.map((r) => r.datname);

describe('a drill whose restore connects while the server restarts (pg_ctl -m immediate)', () => {
  it('is not judged as the backup not restoring: the restore is tried again once the server is back, the drill passes and its scratch database is gone', async () => {
    const config = cluster.config(testConfig());
    const backup = await startFbb(['backup', '--local', '--json', '--no-cleanup'], fbbEnv(config));
    expect(outcome(backup)).toMatchObject({ exit: 0 });
    const { filename } = JSON.parse(backup.stdout) as { filename: string };

    // The drill's psql (PGDATABASE fbb_drill_*) sleeps 4 s before it connects; the retry comes 5 s after a failure.
    const slow = slowBinDirFor(cluster.binDir, 'psql', 4, 'fbb_drill_*');
    const drill = startFbb(['drill', '--local', '--source', 'local', '--json'], fbbEnv({ ...config, pgBinDir: slow }, { ACTIVITY_RETRY_INTERVAL_SECONDS: '5' }));
    const waiting = path.join(slow, 'psql');
    await waitFor("the drill's psql waiting to connect", () => processesMentioning(waiting).length > 0 || undefined, drill, 180_000);
    await pgCtl(cluster, ['-m', 'immediate', 'stop']);
    // It connects (and is refused) once its sleep ends and it becomes the real psql.
    await waitFor("the drill's psql connecting to the stopped server", () => processesMentioning(waiting).length === 0 || undefined, drill);
    await pgCtl(cluster, ['-l', path.join(path.dirname(cluster.dataDir), 'server.log'), 'restart']);

    const result = await drill;
    expect(result.all).not.toContain('does not restore');
    expect(outcome(result)).toMatchObject({ exit: 0 });
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'passed', filename, source: 'local' });
    expect(await drillDatabases()).toEqual([]);
  }, 600_000);
});

// Issue 26 (found by the soak, seed 303 cycle 34: drill × SIGKILL, BACKUP_DIR per host): a drill killed
// with its scratch database made, never retried where it could drop it. A drill takes no database
// lock; it claims its scratch database (a session advisory lock) while it uses it, and a sweep drops
// only unclaimed ones.
describe('a drill killed (SIGKILL) while it restores into its scratch database', () => {
  const backupOf = async (config: ReturnType<typeof testConfig>) => {
    const backup = await runFbb(['backup', '--local', '--json'], fbbEnv(config));
    expect(backup.exitCode, backup.all).toBe(0);
    return JSON.parse(backup.stdout) as { filename: string };
  };

  it('of the S3 copy leaves its scratch database and fetched copy, and the next backup on this host removes both, though it never heard of the drill', async () => {
    const config = cluster.config(testConfig({ s3: true }));
    const s3 = config.s3!;
    const s3Env = { S3_BUCKET: s3.bucket, S3_PREFIX: s3.prefix, S3_ENDPOINT: s3.endpoint!, S3_REGION: s3.region, S3_FORCE_PATH_STYLE: 'true', AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY! };
    const backup = async () => {
      const run = await runFbb(['backup', '--local', '--json', '--upload-to-s3'], fbbEnv(config, s3Env));
      expect(run.exitCode, run.all).toBe(0);
    };
    await backup();
    const slow = slowBinDirFor(cluster.binDir, 'psql', 600, 'fbb_drill_*');
    const drill = startFbb(['drill', '--local', '--source', 's3', '--json'], fbbEnv({ ...config, pgBinDir: slow }, s3Env));
    const waiting = path.join(slow, 'psql');
    await waitFor("the drill's psql restoring into its scratch database", () => processesMentioning(waiting).length > 0 || undefined, drill, 180_000);
    const left = await drillDatabases();
    expect(left).toHaveLength(1);
    process.kill(drill.pid!, 'SIGKILL');
    expect((await drill).signal).toBe('SIGKILL');
    for (const pid of processesMentioning(waiting)) process.kill(Number.parseInt(pid, 10), 'SIGKILL');
    const fetched = () => fs.readdirSync(config.backup.dir).filter((f) => f.startsWith('.fbb_drill_'));
    expect(await drillDatabases()).toEqual(left);
    expect(fetched()).toEqual([`.${left[0]}`]);

    await backup();
    expect(await drillDatabases()).toEqual([]);
    expect(fetched()).toEqual([]);
  }, 600_000);

  it('a drill running while a backup sweeps leftovers keeps its scratch database and passes', async () => {
    const config = cluster.config(testConfig());
    const { filename } = await backupOf(config);
    // The drill's restore waits 20 s with its scratch database made: the backup's sweep runs meanwhile.
    const slow = slowBinDirFor(cluster.binDir, 'psql', 20, 'fbb_drill_*');
    const drill = startFbb(['drill', '--local', '--source', 'local', '--json'], fbbEnv({ ...config, pgBinDir: slow }));
    const waiting = path.join(slow, 'psql');
    await waitFor("the drill's psql restoring into its scratch database", () => processesMentioning(waiting).length > 0 || undefined, drill, 180_000);
    const scratch = await drillDatabases();
    expect(scratch).toHaveLength(1);
    await backupOf(config);
    expect(processesMentioning(waiting).length, 'the backup took less than the drill restore waits').toBeGreaterThan(0);
    expect(await drillDatabases()).toEqual(scratch);

    const result = await drill;
    expect(outcome(result)).toMatchObject({ exit: 0 });
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'passed', filename, source: 'local', scratch_database: scratch[0] });
    expect(await drillDatabases()).toEqual([]);
  }, 600_000);
});
