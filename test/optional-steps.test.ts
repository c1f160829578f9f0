// What the database holds never fails a backup through a step that is not the dump, its
// verification or its storage: a table whose sample cannot be hashed is recorded with the reason
// and the drill checks it by count only, saying why. A required per-table query that fails for a
// reason a retry cannot change fails at once, naming the table, and the CLI prints the activity's
// own error type and message. On the real dev server with real Workers.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countRows } from '../src/activities/backup/inventory';
import { optionalStep } from '../src/activities/backup/optional';
import { sampleHashes } from '../src/activities/rowSample';
import { manifestName, type BackupManifest, type SkippedStep } from '../src/backup/manifest';
import { runCli } from '../src/client/cli';
import { formatDrillResult } from '../src/client/commands/drill';
import type { Config } from '../src/config';
import { backupDatabase, restoreDrill } from '../src/workflows';
import { captured, createDatabase, dropDatabase, testConfig, uniqueName, userEnvFor, withAdmin, withServer } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

let database: string;
let role: string;
/** A connection as a role that may read public.readable but not public.secret. */
const asRole = <T>(fn: (c: import('pg').Client) => Promise<T>) => withServer({ ...testConfig().database, user: role, password: 'pw' }, database, fn);

beforeAll(async () => {
  database = await createDatabase('opt', false);
  cleanups.push(() => dropDatabase(database));
  role = uniqueName('reader');
  await withAdmin((c) => c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'pw'`));
  cleanups.push(() => withAdmin((c) => c.query(`DROP OWNED BY ${role}; DROP ROLE IF EXISTS ${role}`), database).then(() => withAdmin((c) => c.query(`DROP ROLE IF EXISTS ${role}`))));
  await withAdmin(
    (c) => c.query(`CREATE TABLE readable (id int PRIMARY KEY, b box); INSERT INTO readable VALUES (1, box '(1,1),(0,0)'); CREATE TABLE secret (id int PRIMARY KEY); INSERT INTO secret VALUES (1); GRANT SELECT ON readable TO ${role}`),
    database,
  );
});

describe('a step that is not the dump', () => {
  it('a table whose sample cannot be hashed is named with the reason, and the other tables are hashed', async () => {
    const result = await asRole((c) => sampleHashes(c));
    expect(result.failures).toEqual({ secret: 'DatabaseError: permission denied for table secret (table public.secret)' });
    expect(result.hashes.readable).toMatchObject({ rows: 1, order: 'primary_key', rendering: 'by_name', md5: expect.stringMatching(/^[0-9a-f]{32}$/) });
  });

  it('a dump-time step that fails (roles, extensions, column order) is recorded, and the snapshot\'s transaction goes on', async () => {
    const skipped: SkippedStep[] = [];
    const after = await asRole(async (c) => {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const roles = await optionalStep(c, 'roles', async () => (await c.query<{ id: number }>('SELECT id FROM secret')).rows, [], skipped);
      const still = (await c.query<{ n: string }>('SELECT count(*) AS n FROM readable')).rows[0]!.n;
      await c.query('ROLLBACK');
      return { roles, still };
    });
    expect(after).toEqual({ roles: [], still: '1' });
    expect(skipped).toEqual([{ step: 'roles', reason: 'DatabaseError: permission denied for table secret' }]);
  });

  it('a count that cannot be taken fails as DatabaseError naming the table, not retryable', async () => {
    const failure = await asRole((c) => countRows(c, { heartbeat: false })).then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure).toMatchObject({ type: 'DatabaseError', nonRetryable: true, message: 'permission denied for table secret (table public.secret)' });
  });
});

describe('on a worker', () => {
  let config: Config;
  let worker: TestWorker;
  const env = () => ({ ...userEnvFor(config), TEMPORAL_ADDRESS: config.temporal.address, TEMPORAL_NAMESPACE: config.temporal.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue });

  it('fbb backup prints the activity\'s own error type and message with the table named, after one attempt', async () => {
    config = onTemporal(testConfig({ database }));
    let attempts = 0;
    // The dump's count, as the role that may not read public.secret: the real query and the real error.
    const dumpDatabase = async () => {
      attempts++;
      return asRole((c) => countRows(c, { heartbeat: false }));
    };
    worker = await startTestWorker(config, { dumpDatabase });
    cleanups.push(() => worker.stop());
    const io = captured();
    const id = uniqueName('opt-backup').replace(/_/g, '-');
    const code = await runCli(['backup', '--workflow-id', id], { stdout: io.stdout, stderr: io.stderr, env: env() });
    expect(io.text().stderr).toContain(`fbb: backup ${id} failed: DatabaseError: permission denied for table secret (table public.secret)\n`);
    expect(code).toBe(1);
    expect(attempts).toBe(1);
  });

  /** A verified backup of a sample database by a worker of its own; the manifest's path and contents. */
  async function drillSetup(): Promise<{ drillConfig: Config; file: string; manifest: BackupManifest; sample: string }> {
    const sample = await createDatabase('optdrill');
    cleanups.push(() => dropDatabase(sample));
    const drillConfig = onTemporal(testConfig({ database: sample }));
    const started = await startTestWorker(drillConfig);
    cleanups.push(() => started.stop());
    const made = await (await testClient()).workflow.execute(backupDatabase, { taskQueue: drillConfig.temporal.taskQueue, workflowId: uniqueName('opt-drill-backup'), args: [{ cleanup_old: false }] });
    const file = path.join(drillConfig.backup.dir, manifestName(made.filename));
    return { drillConfig, file, manifest: JSON.parse(fs.readFileSync(file, 'utf8')) as BackupManifest, sample };
  }
  const drill = async (config: Config) => (await testClient()).workflow.execute(restoreDrill, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('opt-drill'), args: [{ source: 'local' }] });

  it('a drill compares samples recorded before rows were hashed by column name as they were made', async () => {
    const { drillConfig, file, manifest, sample } = await drillSetup();
    // The sample as backups made before recorded it: rows' text in column order, no "rendering".
    const old = await withAdmin(async (c) => {
      await c.query("SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex'");
      const { rows } = await c.query<{ n: string; digest: string }>(
        `SELECT count(*) AS n, md5(coalesce(string_agg(h, ',' ORDER BY i), '')) AS digest FROM (SELECT md5(t::text) AS h, row_number() OVER (ORDER BY t.id) AS i FROM public.tags t ORDER BY t.id LIMIT 200) s`,
      );
      return { rows: Number(rows[0]!.n), md5: rows[0]!.digest, order: 'primary_key' as const };
    }, sample);
    expect(old.md5).not.toBe(manifest.verification!.sample_hashes!.tags!.md5);
    manifest.verification!.sample_hashes!.tags = old;
    fs.writeFileSync(file, JSON.stringify(manifest));
    expect(await drill(drillConfig)).toMatchObject({ status: 'passed', samples_missing: [] });

    manifest.verification!.sample_hashes!.tags = { ...old, md5: '0'.repeat(32) };
    fs.writeFileSync(file, JSON.stringify(manifest));
    await expect(drill(drillConfig)).rejects.toMatchObject({ cause: { cause: { type: 'DrillFailed', message: expect.stringMatching(/tags: the first \d+ rows differ from the ones verified/) } } });
  });

  it('a drill checks a table without a recorded sample by count only, and says why', async () => {
    const { drillConfig, file, manifest } = await drillSetup();
    // As verification records a sample it could not compute.
    delete manifest.verification!.sample_hashes!.tags;
    manifest.verification!.sample_failures = { tags: 'DatabaseError: could not identify an ordering operator for type box (table public.tags)' };
    fs.writeFileSync(file, JSON.stringify(manifest));

    const result = await drill(drillConfig);
    expect(result).toMatchObject({
      status: 'passed',
      samples_missing: ['tags'],
      count_only: { tags: 'no sample was recorded at verification: DatabaseError: could not identify an ordering operator for type box (table public.tags)' },
    });
    expect(result.samples_checked).toBe(result.tables_checked - 1);
    expect(formatDrillResult(result)).toContain(`${result.samples_checked} matched; counts only for tags (no sample was recorded at verification: DatabaseError: could not identify an ordering operator for type box (table public.tags))`);
  });
});
