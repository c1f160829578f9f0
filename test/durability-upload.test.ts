// Kill matrix, the backup's last steps: a worker PROCESS SIGKILLed during the upload to S3 (moto,
// which lists open multipart uploads, behind a slow proxy) or during prune; another worker finishes
// the run once, and S3 holds the complete, verified object and nothing else of the run.
// The tests run at the same time (describe.concurrent): each has its own database, task queue, backup
// directories and worker processes, and most of their time is spent waiting (heartbeat timeouts, lost workers).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import type { WorkflowHandle } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestName } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { copyBackup } from '../src/storage/copy';
import { LocalStore } from '../src/storage/localStore';
import { createS3Client } from '../src/storage/s3Client';
import { S3Store } from '../src/storage/s3Store';
import { startMotoServer } from './motoServer';
import type { S3Server } from './s3server';
import { backupDatabase, progressQuery } from '../src/workflows';
import type { BackupResult } from '../src/workflows/pipeline';
import { activityRunning, buildWorker, dropOurDatabases, filesIn, kill, killAllWorkers, leftoverDatabases, printed, printRecoveries, recovered, slowProxy, startWorker } from './durability';
import { eventually } from './eventually';
import { createDatabase, testConfig, uniqueName } from './helpers';
import { onTemporal, testClient } from './temporal';

let moto: S3Server;

beforeAll(async () => {
  [moto] = await Promise.all([startMotoServer(), buildWorker()]);
}, 600_000);

afterAll(async () => {
  await killAllWorkers();
  await moto?.stop();
  await dropOurDatabases();
  printRecoveries();
});

/** `config` storing in moto (through `endpoint`, default moto itself) under a prefix of its own. */
function onMoto(config: Config, endpoint = moto.endpoint, prefix = `${uniqueName('p')}/`): Config {
  return { ...config, s3: { bucket: moto.bucket, prefix, endpoint, region: moto.region, forcePathStyle: true, partSizeBytes: 5 * 1024 * 1024 } };
}

/** Every key under the config's prefix. */
async function keys(s3: S3Client, config: Config): Promise<string[]> {
  const out: string[] = [];
  for await (const page of paginateListObjectsV2({ client: s3 }, { Bucket: moto.bucket, Prefix: config.s3!.prefix })) out.push(...(page.Contents ?? []).map((o) => o.Key!));
  return out.sort();
}

/** Multipart uploads still open under the config's prefix. */
async function openUploads(s3: S3Client, config: Config): Promise<{ key: string; uploadId: string }[]> {
  const out = await s3.send(new ListMultipartUploadsCommand({ Bucket: moto.bucket, Prefix: config.s3!.prefix }));
  return (out.Uploads ?? []).map((u) => ({ key: u.Key!, uploadId: u.UploadId! }));
}

/** SHA-256 of the stored object's bytes, and its size. */
async function storedObject(s3: S3Client, key: string): Promise<{ size: number; sha256: string }> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: moto.bucket, Key: key }));
  const body = await s3.send(new GetObjectCommand({ Bucket: moto.bucket, Key: key }));
  const bytes = await body.Body!.transformToByteArray();
  return { size: head.ContentLength!, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** The state a completed backup must leave: one file and manifest locally, the same bytes and a verified manifest in S3, no open upload, no scratch database. */
async function expectOneCompleteBackup(s3: S3Client, config: Config, result: BackupResult): Promise<void> {
  expect(result).toMatchObject({ status: 'success', verified: { ok: true }, uploaded: { bucket: moto.bucket, key: `${config.s3!.prefix}${result.filename}` } });
  expect(filesIn(config.backup.dir)).toEqual([result.filename, manifestName(result.filename)]);
  const local = fs.readFileSync(path.join(config.backup.dir, result.filename));
  const localSha = createHash('sha256').update(local).digest('hex');
  expect(result.sha256).toBe(localSha);
  expect(await keys(s3, config)).toEqual([`${config.s3!.prefix}${result.filename}`, `${config.s3!.prefix}${manifestName(result.filename)}`]);
  expect(await storedObject(s3, `${config.s3!.prefix}${result.filename}`)).toEqual({ size: local.length, sha256: localSha });
  const remote = await new S3Store(s3, config.s3!, config.backup.prefix).getManifest(result.filename);
  expect(remote).toMatchObject({ status: 'verified', sha256: localSha, size_bytes: local.length });
  expect(await openUploads(s3, config)).toEqual([]);
  expect(await leftoverDatabases(config, [result.filename])).toEqual([]);
}

/** How many times the run scheduled `activityType`. */
async function scheduled(handle: WorkflowHandle, activityType: string): Promise<number> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType).length;
}

describe.concurrent('a worker SIGKILLed while uploading to S3, with a multipart upload half done', () => {
  it('the other worker uploads the backup once more, completely; no multipart upload is left open; the lock is released', async () => {
    // Scale 6: a dump of about 7 MB, two 5 MB parts.
    const db = await createDatabase('dur_upload', { scale: 6 });
    const proxy = await slowProxy(moto.endpoint, 512 * 1024);
    const direct = onMoto(onTemporal(testConfig({ database: db })));
    const slow = { ...direct, s3: { ...direct.s3!, endpoint: proxy.endpoint } };
    const s3 = createS3Client(direct.s3!);
    try {
      const first = startWorker(slow);
      const client = await testClient();
      const handle = await client.workflow.start(backupDatabase, { taskQueue: direct.temporal.taskQueue, workflowId: uniqueName('dur-upload'), args: [{ cleanup_old: false, upload_to_s3: true }] });
      await activityRunning(handle, 'uploadBackup');
      const { filename } = await handle.query(progressQuery);
      const key = `${direct.s3!.prefix}${filename!}`;
      // The moment: the multipart upload is open and has a part stored, the rest still on the way.
      await eventually(
        'a multipart upload with a part stored',
        async () => {
          const open = (await openUploads(s3, direct)).filter((u) => u.key === key);
          if (open.length === 0) return 0;
          const parts = await s3.send(new ListPartsCommand({ Bucket: moto.bucket, Key: key, UploadId: open[0]!.uploadId })).catch(() => undefined);
          return parts?.Parts?.length ?? 0;
        },
        (parts) => parts >= 1,
        180_000,
      );
      // Still the first attempt: a part that takes longer than the heartbeat timeout (10 s here) to send does not time the upload out.
      expect((await activityRunning(handle, 'uploadBackup')).attempt).toBe(1);
      await kill(first);
      const killedAt = Date.now();
      expect((await openUploads(s3, direct)).map((u) => u.key)).toEqual([key]);

      void startWorker(direct);
      const result = await handle.result();
      recovered('backup, worker killed during the upload (moto, multipart half done)', killedAt);
      expect(result.size_mb).toBeGreaterThan(5);
      await expectOneCompleteBackup(s3, direct, result);
      expect(await scheduled(handle, 'dumpDatabase')).toBe(1);

      const next = await client.workflow.execute(backupDatabase, { taskQueue: direct.temporal.taskQueue, workflowId: uniqueName('dur-upload-next'), args: [{ cleanup_old: false, upload_to_s3: true }] });
      expect(next).toMatchObject({ status: 'success', uploaded: { bucket: moto.bucket } });
    } finally {
      s3.destroy();
      await proxy.close();
    }
  }, 600_000);
});

describe.concurrent('a worker SIGKILLed during prune, after it removed the first expired backup', () => {
  it('the other worker removes the rest; only the new backup is left, locally and in S3', async () => {
    const db = await createDatabase('dur_prune');
    const config = onMoto(onTemporal(testConfig({ database: db })));
    const s3 = createS3Client(config.s3!);
    const local = new LocalStore(config.backup.dir, config.backup.prefix);
    const remote = new S3Store(s3, config.s3!, config.backup.prefix);
    try {
      const client = await testClient();
      // Two expired manual backups, locally and in S3: copies of a real one, dated 2020.
      const seeder = startWorker(config);
      const seed = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-seed'), args: [{ cleanup_old: false, upload_to_s3: true }] });
      await kill(seeder);
      const manifest = (await local.getManifest(seed.filename))!;
      const expired = ['family_brain_manual_20200101_020000.sql.gz', 'family_brain_manual_20200102_020000.sql.gz'];
      for (const [i, name] of expired.entries()) {
        fs.copyFileSync(path.join(config.backup.dir, seed.filename), path.join(config.backup.dir, name));
        const old = { ...manifest, filename: name, created_at: `2020-01-0${i + 1}T07:00:00.000Z` };
        await local.putManifest(old);
        await copyBackup(local, remote, name, old);
      }
      await local.remove(seed.filename);
      await remote.remove(seed.filename);

      const paused = startWorker(config, { FBB_TEST_PAUSE_AT: 'prune' });
      const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-prune'), args: [{ cleanup_old: true, upload_to_s3: true }] });
      await printed(paused, 'test pause at prune');
      // The removal has reached the server in the activity's heartbeat before the kill.
      await activityRunning(handle, 'pruneBackups', 1, (a) => (a.heartbeatDetails?.payloads?.length ?? 0) > 0);
      await kill(paused);
      const killedAt = Date.now();
      const remaining = [...filesIn(config.backup.dir), ...(await keys(s3, config))].filter((n) => expired.some((e) => n.endsWith(e)));
      expect(remaining).toHaveLength(expired.length * 2 - 1);

      void startWorker(config);
      const result = await handle.result();
      recovered('backup, worker killed during prune (one expired backup removed)', killedAt);
      await expectOneCompleteBackup(s3, config, result);
      const removed = result.pruned.map((p) => `${p.location}:${p.filename}`).sort();
      // Every removal it reports is an expired backup. Not asserted: that it lists the killed worker's
      // removal too. A retried attempt does (prune carries its removals in the heartbeat), but a run whose
      // pipeline restarts on another worker (per-worker task queues) starts a new prune that cannot know it.
      expect(removed.length).toBeGreaterThanOrEqual(expired.length * 2 - 1);
      for (const r of removed) expect(expired.flatMap((e) => [`local:${e}`, `s3:${e}`])).toContain(r);
      expect(await scheduled(handle, 'dumpDatabase')).toBe(1);

      const next = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('dur-prune-next'), args: [{ cleanup_old: true, upload_to_s3: true }] });
      expect(next).toMatchObject({ status: 'success' });
    } finally {
      s3.destroy();
    }
  }, 600_000);
});
