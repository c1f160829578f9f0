// Issue 24, retention of base backups and WAL on a real server and archive: three base backups taken by
// the real baseBackup workflow on a real worker (each prunes after itself), then retention with a
// clock that puts the window's start between the second and the third. It never removes the newest
// verified base backup, removes exactly the old backup and the WAL before the oldest kept one's start
// (locally and in S3), and a restore to a moment inside the kept window still gives the state then.
import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, paginateListObjectsV2, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restorableState } from '../src/activities/basebackup/plan';
import { prunePhysicalBackups } from '../src/activities/basebackup/prune';
import type { BaseBackupManifest } from '../src/basebackup/manifest';
import { parseArchivedWal, segmentName, segnoOfLsn } from '../src/basebackup/naming';
import { createS3Client } from '../src/storage/s3Client';
import { baseBackup, restoreToTime } from '../src/workflows';
import { temporalDriver, type Runner } from './drivers';
import { runCli } from '../src/client/cli';
import { eventually } from './eventually';
import { captured, runActivity, tempDir, uniqueName, userEnvFor, withServer } from './helpers';
import { startPitrSetup, startRestored, switchAndArchive, type PitrSetup } from './pitrCluster';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
const SEG = 16 * 1024 * 1024;

let setup: PitrSetup;
let runner: Runner;
const backups: BaseBackupManifest[] = [];
/** A moment between the second base backup's end and the third's start, and the rows then. */
let moment: string;

const baseDirOf = () => path.join(setup.config.backup.dir, 'base', setup.archive.systemIdentifier);
const local = () => ({ base: (fs.existsSync(baseDirOf()) ? fs.readdirSync(baseDirOf()) : []).sort(), wal: fs.readdirSync(setup.archive.dir).filter((f) => !f.startsWith('.')).sort() });

/** Every key under this config's S3 prefix, relative to it. */
async function s3Keys(): Promise<string[]> {
  const s3 = setup.config.s3!;
  const client = createS3Client(s3);
  try {
    const out: string[] = [];
    for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: s3.prefix })) for (const o of page.Contents ?? []) out.push(o.Key!.slice(s3.prefix.length));
    return out.sort();
  } finally {
    client.destroy();
  }
}

/** Copies the local WAL archive to S3 (the stand-in archives locally only; the real archive mirrors it the same way). */
async function mirrorWalToS3(): Promise<void> {
  const s3 = setup.config.s3!;
  const client = createS3Client(s3);
  try {
    for (const f of local().wal) await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${s3.prefix}wal/${setup.archive.systemIdentifier}/${f}`, Body: fs.readFileSync(path.join(setup.archive.dir, f)) }));
  } finally {
    client.destroy();
  }
}

/** Sets or clears `verification` in a base backup's manifest, locally and in S3 (as the verification of base backups records it). */
async function markVerified(m: BaseBackupManifest, verified: boolean): Promise<void> {
  const rel = `base/${m.system_identifier}/${m.filename}.manifest.json`;
  const file = path.join(setup.config.backup.dir, rel);
  const text = `${JSON.stringify({ ...JSON.parse(fs.readFileSync(file, 'utf8')), verification: verified ? { verified_at: new Date().toISOString() } : null }, null, 2)}\n`;
  fs.writeFileSync(file, text);
  const s3 = setup.config.s3!;
  const client = createS3Client(s3);
  try {
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `${s3.prefix}${rel}`, Body: text }));
    // s3rver answers a PUT before its file is written (lib/stores/filesystem.js putObject resolves as the write
    // starts; real S3 reads its writes): a read right after saw an empty manifest once (CI, a loaded machine).
    const read = async () => (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: `${s3.prefix}${rel}` }))).Body!.transformToString();
    await eventually(`s3rver holds the rewritten ${rel}`, read, (back) => back === text, 10_000);
  } finally {
    client.destroy();
  }
}

const files = (m: BaseBackupManifest) => [m.filename, `${m.filename}.backup_manifest`, `${m.filename}.manifest.json`, `${m.filename}.sha256`];
/** The archived WAL names (and sidecars) of segments before the one `m` starts in. */
const walBefore = (names: string[], m: BaseBackupManifest) => names.filter((n) => {
  const parsed = parseArchivedWal(n.replace(/\.sha256$/, ''), SEG);
  return parsed !== undefined && parsed.kind !== 'history' && parsed.segno < segnoOfLsn(m.start_lsn, SEG);
});

beforeAll(async () => {
  setup = await startPitrSetup({ s3: true, settings: ['autovacuum=off'] });
  runner = await driver.runner(setup.config);
  await withServer(setup.cluster, 'family_brain', (c) => c.query('CREATE TABLE retention_marks (id serial PRIMARY KEY, label text)'));
  // At least one segment archived before the first backup, for its retention step to remove.
  await switchAndArchive(setup);
  const walBeforeFirst = local().wal;
  for (const label of ['first', 'second', 'third']) {
    const result = await runner.execute(baseBackup, { args: [{}], workflowId: id(`bb-${label}`) });
    backups.push(result.manifest);
    if (label === 'first') {
      // The first backup's own retention step removed the WAL from before it: no base backup needs it.
      expect(walBefore(walBeforeFirst, result.manifest).length).toBeGreaterThan(0);
      const removed = result.pruned!.filter((d) => d.action === 'remove');
      expect(removed.length).toBeGreaterThan(0);
      expect(removed.every((d) => d.type === 'wal' && d.location === 'local' && d.removed && d.reason.endsWith(`where the oldest kept base backup (${result.manifest.filename}) starts`))).toBe(true);
      expect(walBefore(local().wal, result.manifest)).toEqual([]);
    } else {
      expect(result.pruned!.filter((d) => d.action === 'remove')).toEqual([]);
    }
    await withServer(setup.cluster, 'family_brain', (c) => c.query('INSERT INTO retention_marks (label) VALUES ($1)', [`after the ${label} base backup`]));
    if (label === 'second') {
      await new Promise((r) => setTimeout(r, 1_000));
      moment = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
      await new Promise((r) => setTimeout(r, 1_000));
      await withServer(setup.cluster, 'family_brain', (c) => c.query("INSERT INTO retention_marks (label) VALUES ('after the moment')"));
    }
    await switchAndArchive(setup);
  }
  // The archive stops here (what the moment needs is archived): the listings compared below change only by retention.
  await setup.archive.stop();
  await mirrorWalToS3();
}, 600_000);
afterAll(async () => {
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

describe('base-backup and WAL retention', () => {
  it('never removes the newest verified base backup, even outside the window; a dry run changes nothing; then removes exactly the old backup and the WAL before the oldest kept one, locally and in S3; a moment in the kept window still restores', async () => {
    const [first, second, third] = backups as [BaseBackupManifest, BaseBackupManifest, BaseBackupManifest];
    // 14 days after the third backup ended, less a millisecond: the window holds the third; the second is the newest before it.
    const now = new Date(Date.parse(third.end_time) + 14 * 86_400_000 - 1).toISOString();
    const before = { local: local(), s3: await s3Keys() };
    expect(before.local.base).toEqual([...files(first), ...files(second), ...files(third)].sort());

    // The backups verified themselves as they were taken: here only the oldest counts as verified.
    await markVerified(second, false);
    await markVerified(third, false);
    await markVerified(first, true);
    const guarded = await runActivity(prunePhysicalBackups, setup.config, { dryRun: false, now });
    const baseDecisions = (location: string, ds: typeof guarded) => ds.filter((d) => d.type !== 'wal' && d.location === location).map((d) => [d.filename, d.action, d.reason]);
    for (const location of ['local', 's3']) {
      expect(baseDecisions(location, guarded)).toEqual([
        [third.filename, 'keep', 'within the recovery window (14 days)'],
        [second.filename, 'keep', `the newest base backup that ended before the recovery window (14 days) began: moments from ${new Date(Date.parse(now) - 14 * 86_400_000).toISOString()} on are restored from it`],
        [first.filename, 'keep', 'the newest verified base backup is always kept'],
      ]);
    }
    expect(guarded.filter((d) => d.action === 'remove')).toEqual([]);
    expect({ local: local(), s3: await s3Keys() }).toEqual(before);

    await markVerified(first, false);
    const dry = await runActivity(prunePhysicalBackups, setup.config, { dryRun: true, now });
    const oldWal = walBefore(before.local.wal, second);
    expect(oldWal.length).toBeGreaterThan(0);
    const expectedRemovals = [first.filename, ...oldWal.filter((n) => !n.endsWith('.sha256'))].sort();
    for (const location of ['local', 's3']) {
      expect(dry.filter((d) => d.location === location && d.action === 'remove').map((d) => d.filename).sort()).toEqual(expectedRemovals);
    }
    expect(dry.every((d) => !d.removed)).toBe(true);
    expect(dry.find((d) => d.filename === first.filename)?.reason).toBe(`ended ${first.end_time}, before the recovery window (14 days), and no kept base backup needs it`);
    expect({ local: local(), s3: await s3Keys() }).toEqual(before);

    const pruned = await runActivity(prunePhysicalBackups, setup.config, { dryRun: false, now });
    expect(pruned.filter((d) => d.action === 'remove').every((d) => d.removed)).toBe(true);
    const gone = new Set([...files(first), ...oldWal]);
    expect(local()).toEqual({ base: before.local.base.filter((f) => !gone.has(f)), wal: before.local.wal.filter((f) => !gone.has(f)) });
    const sysid = setup.archive.systemIdentifier;
    expect(await s3Keys()).toEqual(before.s3.filter((k) => !gone.has(k.replace(`base/${sysid}/`, '').replace(`wal/${sysid}/`, ''))));
    // Every segment from the second backup's start on is still there: its WAL run has no gap.
    expect(walBefore(local().wal, second)).toEqual([]);

    const { window } = await restorableState(setup.config);
    expect(window?.oldest).toBe(second.end_time);
    const target = path.join(tempDir('retention-pitr'), 'restored');
    fs.chmodSync(path.dirname(target), 0o755);
    const restoredRun = await runner.execute(restoreToTime, { args: [{ to_time: moment, target_dir: target }], workflowId: id('retention-pitr') });
    expect(restoredRun.chain).toEqual([second.filename]);
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      expect((await restored.query<{ label: string }>('SELECT label FROM retention_marks ORDER BY id')).map((r) => r.label)).toEqual(['after the first base backup', 'after the second base backup']);
    } finally {
      await restored.stop();
    }
  }, 600_000);

  it('fbb basebackup --dry-run prints each decision with its reason and takes no backup, changing nothing', async () => {
    const [, second, third] = backups as [BaseBackupManifest, BaseBackupManifest, BaseBackupManifest];
    const before = local();
    const io = captured();
    const code = await runCli(['basebackup', '--dry-run', '--local'], { stdout: io.stdout, stderr: io.stderr, env: userEnvFor(setup.config) });
    const { stdout, stderr } = io.text();
    expect(code, stderr).toBe(0);
    const firstKept = segmentName(second.timeline, segnoOfLsn(second.start_lsn, SEG), SEG);
    expect(stdout.split('\n')).toEqual([
      '  would prune  nothing',
      `  kept         ${third.filename} (local): within the recovery window (14 days)`,
      `               ${second.filename} (local): within the recovery window (14 days)`,
      expect.stringMatching(new RegExp(`^ {15}${firstKept} and later \\(local\\): \\d+ archived WAL files from segment ${firstKept} on \\(and the timeline history files\\): needed by the kept base backups$`)),
      '',
    ]);
    expect(local()).toEqual(before);
  }, 300_000);
});
