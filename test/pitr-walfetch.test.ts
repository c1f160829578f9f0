// Issue 24, the WAL of a point-in-time restore fetched as the recovering server asks for it (restore_command
// answered by the worker), not all of it up front: the plan in the workflow's history names a range, not
// files; the spool holds a few segments at most; the server gets no secret; a damaged or missing segment
// stops recovery (it does not promote early) and leaves the target directory empty.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationFailureOf } from '../src/client/failures';
import { planPointInTime } from '../src/activities/basebackup/plan';
import { WAL_PREFETCH_WINDOW } from '../src/activities/basebackup/walFeeder';
import type { Config } from '../src/config';
import { segmentNumber } from '../src/wal/layout';
import { baseBackup, restoreToTime } from '../src/workflows';
import { temporalDriver, type Runner } from './drivers';
import { tempDir, uniqueName, withServer } from './helpers';
import { startPitrSetup, startRestored, switchAndArchive, type PitrSetup } from './pitrCluster';
import { testClient } from './temporal';
import { historyText } from './webhook';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
/** A temporary directory the postgres user can reach (tests run as root; the restored server runs as postgres). */
function openTempDir(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
}
const MARKER = /\.(want|absent|failed)$/;
/** Segments written after the base backup, each ended by pg_switch_wal. */
const SEGMENTS = 10;

let setup: PitrSetup;
let runner: Runner;
beforeAll(async () => {
  setup = await startPitrSetup();
  runner = await driver.runner(setup.config);
  await runner.execute(baseBackup, { args: [{}], workflowId: id('walfetch-bb') });
  await withServer(setup.cluster, 'family_brain', async (c) => {
    await c.query('CREATE TABLE walfetch_marks (segment int PRIMARY KEY)');
    for (let i = 1; i <= SEGMENTS; i++) {
      await c.query('INSERT INTO walfetch_marks VALUES ($1)', [i]);
      await c.query('SELECT pg_switch_wal()');
    }
  });
  await switchAndArchive(setup);
}, 600_000);
afterAll(async () => {
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

/** While a restore runs: the most WAL files its spool held, and the environment the recovering server was started with. */
function watchRestore(target: string): { stop(): { spoolMax: number; serverEnv: string[] | undefined } } {
  const work = path.join(path.dirname(target), `.${path.basename(target)}.fbb-restoring`);
  let spoolMax = 0;
  let serverEnv: string[] | undefined;
  const timer = setInterval(() => {
    const entries = (() => {
      try {
        return fs.readdirSync(path.join(work, 'wal'));
      } catch {
        return [];
      }
    })();
    spoolMax = Math.max(spoolMax, entries.filter((e) => !MARKER.test(e)).length);
    try {
      // The postmaster rewrites its own environment area (its ps title): read that of runuser, which started it.
      const pid = fs.readFileSync(path.join(work, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
      const parent = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]!;
      if (fs.readFileSync(`/proc/${parent}/comm`, 'utf8').trim() === 'runuser') {
        serverEnv ??= fs.readFileSync(`/proc/${parent}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => kv.split('=')[0]!);
      }
    } catch {
      // not started yet, or gone
    }
  }, 20);
  return {
    stop: () => {
      clearInterval(timer);
      return { spoolMax, serverEnv };
    },
  };
}

describe('fbb restore --to-time fetches the WAL as the recovering server asks for it', () => {
  it('over many segments: the plan in history names a range, not files; the spool holds at most the prefetch window; the server gets none of the worker\'s environment', async () => {
    const target = path.join(openTempDir('walfetch'), 'restored');
    const watch = watchRestore(target);
    const handle = await runner.start(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('walfetch') });
    const result = await handle.result();
    const seen = watch.stop();

    const spanned = segmentNumber(result.wal_range.last).number - segmentNumber(result.wal_range.first).number + 1n;
    console.log(`WAL ${result.wal_range.first}..${result.wal_range.last} (${spanned} segments): ${result.wal_fetched.files} files fetched, spool held at most ${result.wal_fetched.spool_max} (sampled: ${seen.spoolMax})`);
    expect(spanned).toBeGreaterThan(BigInt(SEGMENTS));
    expect(typeof result.wal_range.partial).toBe("boolean");
    expect(result.wal_fetched.files).toBeGreaterThanOrEqual(SEGMENTS);
    expect(result.wal_fetched.spool_max).toBeLessThanOrEqual(WAL_PREFETCH_WINDOW);
    expect(seen.spoolMax).toBeGreaterThan(0);
    expect(seen.spoolMax).toBeLessThanOrEqual(WAL_PREFETCH_WINDOW);
    expect(seen.serverEnv).toBeDefined();
    expect(seen.serverEnv!.filter((k) => !['PATH', 'LANG', 'LC_ALL', 'TZ'].includes(k))).toEqual([]);

    // Payloads as the Web UI shows them (the fetched history carries them base64-encoded).
    const history = historyText(await (await testClient()).workflow.getHandle(handle.workflowId).fetchHistory()).replace(/"data":"([A-Za-z0-9+/=]+)"/g, (_, b64: string) => JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')));
    expect(history).toContain(`\\"wal_range\\":{\\"first\\":\\"${result.wal_range.first}\\",\\"last\\":\\"${result.wal_range.last}\\",\\"partial\\":${String(result.wal_range.partial)}}`);
    expect(history).not.toMatch(/[0-9A-F]{24}(\.partial)?\.gz/);
    expect(history).not.toContain('\\"wal\\":[');

    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      expect(await restored.query('SELECT count(*)::int AS n FROM walfetch_marks')).toEqual([{ n: SEGMENTS }]);
    } finally {
      await restored.stop();
    }
  }, 300_000);

  it('a plan recorded before the range said partial (it listed every WAL file) is still restored from', async () => {
    const target = path.join(openTempDir('walfetch-oldplan'), 'restored');
    const oldShape = await driver.runner(setup.config, {
      planPointInTime: async (input: { to_time: string; target_dir: string }) => {
        const plan = await planPointInTime(setup.config, input);
        const stored = fs.readdirSync(setup.archive.dir).filter((f) => /\.gz$/.test(f)).sort();
        return { ...plan, wal: stored, wal_range: { first: plan.wal_range.first, last: plan.wal_range.last } };
      },
    });
    const result = await oldShape.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('walfetch-oldplan') });
    expect(result.wal_fetched.files).toBeGreaterThanOrEqual(SEGMENTS);
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      expect(await restored.query('SELECT count(*)::int AS n FROM walfetch_marks')).toEqual([{ n: SEGMENTS }]);
    } finally {
      await restored.stop();
    }
  }, 300_000);

  it('a damaged archived segment stops recovery with WalArchiveDamaged (it does not promote early) and leaves the target directory empty; so does a missing one', async () => {
    const copy: Config = { ...setup.config, backup: { ...setup.config.backup, dir: tempDir('walfetch-damaged') } };
    fs.cpSync(setup.config.backup.dir, copy.backup.dir, { recursive: true });
    const walDir = path.join(copy.backup.dir, 'wal', setup.archive.systemIdentifier);
    const segments = fs.readdirSync(walDir).filter((f) => /^[0-9A-F]{24}\.gz$/.test(f)).sort();
    const middle = segments[segments.length - 4]!;
    const file = path.join(walDir, middle);
    const bytes = fs.readFileSync(file);
    const at = Math.floor(bytes.length / 2);
    bytes.writeUInt8(bytes.readUInt8(at) ^ 0xff, at);
    fs.writeFileSync(file, bytes);
    const damagedRunner = await driver.runner(copy);

    const target = path.join(openTempDir('walfetch-damaged-target'), 'restored');
    const damaged = applicationFailureOf(await damagedRunner.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('walfetch-damaged') }).catch((e: unknown) => e));
    expect(damaged?.type).toBe('WalArchiveDamaged');
    expect(damaged?.nonRetryable).toBe(true);
    const expected = fs.readFileSync(`${file}.sha256`, 'utf8').trim();
    expect(damaged?.message).toMatch(new RegExp(`^archived WAL ${file} (failed its checksum \\(expected ${expected}, got [0-9a-f]{64}\\)|does not read back \\(.*\\)); recovery stopped there and the target directory was left empty; run "fbb list" to pick a moment before it$`));
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);

    // Pruned (or lost) after the plan was made: the plan names the range; the server asks for a segment that is not there.
    const pruning = await driver.runner(copy, {
      planPointInTime: async (input: { to_time: string; target_dir: string }) => {
        fs.writeFileSync(file, fs.readFileSync(path.join(setup.archive.dir, middle)));
        fs.copyFileSync(path.join(setup.archive.dir, `${middle}.sha256`), `${file}.sha256`);
        const plan = await planPointInTime(copy, input);
        fs.rmSync(file);
        fs.rmSync(`${file}.sha256`);
        return plan;
      },
    });
    const missingTarget = path.join(openTempDir('walfetch-missing-target'), 'restored');
    const missing = applicationFailureOf(await pruning.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: missingTarget }], workflowId: id('walfetch-missing') }).catch((e: unknown) => e));
    expect(missing?.type).toBe('WalArchiveDamaged');
    expect(missing?.message).toMatch(new RegExp(`^archived WAL ${middle.slice(0, 24)} is missing from ${walDir} \\(it is inside the range [0-9A-F]{24}\\.\\.[0-9A-F]{24} the restore planned\\); recovery stopped there and the target directory was left empty; run "fbb list" to pick a moment before it$`));
    expect(fs.readdirSync(path.dirname(missingTarget))).toEqual([]);
  }, 300_000);
});
