// The disaster path: a base backup (combined when incremental) and the archived WAL made into a data
// directory recovered to a moment, promoted, stopped cleanly, and moved into the empty target
// directory in one rename. Until that rename the target stays empty; a retry starts over.
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import { lastLines } from '../../format';
import { baseDir, SHA256_SUFFIX } from '../../basebackup/naming';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { decryptionStages } from '../encryption';
import { every, fsyncDir, HashCounter, writeFileAtomic } from '../stream';
import { isStoredPartial } from '../../wal/layout';
import { assertEmptyDir, type RecoveryPlan, type WalRange } from './plan';
import { recoverAndStop } from './recoveryRun';
import { asServerUser, handToServerUser, serverBinDir } from './serverUser';
import { startWalFeeder, type WalFeedStats } from './walFeeder';

/** What `fbb restore --to-time` reports. */
export interface RecoveryResult {
  target_dir: string;
  to_time: string;
  base_backup: string;
  chain: string[];
  wal_range: WalRange;
  /** WAL files fetched for the server as it asked (prefetched ones included), and the most the spool held at once. */
  wal_fetched: WalFeedStats;
  /** UTC ISO 8601: the commit time of the last transaction replayed; null when none was. */
  recovered_to: string | null;
  workflow_id: string;
  duration_ms: number;
}

/** The record the restore leaves in the data directory (and what a retry of a finished restore returns). */
export const RESTORE_RECORD = 'fbb_restore.json';

/** Restores `plan` into its target directory; a retry after it finished returns the recorded result. */
export async function recoverToDirectory(config: Config, plan: RecoveryPlan, workflowId: string): Promise<RecoveryResult> {
  const started = Date.now();
  const done = await fs.readFile(path.join(plan.target_dir, RESTORE_RECORD), 'utf8').then((t) => JSON.parse(t) as RecoveryResult, () => undefined);
  if (done?.workflow_id === workflowId) return done;
  const { work, inside } = await workPlace(plan.target_dir, workflowId);
  await assertEmptyDir(plan.target_dir);
  const binDir = await serverBinDir(config, plan.pg_major);
  const parent = path.dirname(plan.target_dir);
  const staging = path.join(work, 'data');
  await fs.mkdir(work, { recursive: true, mode: 0o700 });
  await fs.writeFile(path.join(work, OWNER), workflowId);
  const ctx = Context.current();
  const stopBeats = every(5_000, () => ctx.heartbeat({ step: 'restoring', target_dir: plan.target_dir }));
  let sockets: string | undefined;
  let feeder: Awaited<ReturnType<typeof startWalFeeder>> | undefined;
  try {
    await extractChain(config, plan, binDir, work, staging);
    await fs.writeFile(path.join(staging, 'recovery.signal'), '');
    await fs.mkdir(path.join(staging, 'pg_wal'), { recursive: true, mode: 0o700 });
    await fs.chmod(staging, 0o700);
    // A socket path has at most 107 bytes: the socket goes in a short directory of its own, not under the target.
    sockets = await fs.mkdtemp(path.join(os.tmpdir(), 'fbb-pitr-'));
    await handToServerUser(work, sockets);
    const log = path.join(work, 'recovery.log');
    const wal_range = walRangeOf(plan);
    // The WAL comes as the server asks for it; a file it could not get is why recovery stopped.
    feeder = await startWalFeeder(config, { sysid: plan.system_identifier, range: wal_range, segmentBytes: plan.wal_segment_bytes, dir: work });
    const { recovered_to } = await recoverAndStop({ binDir, dataDir: staging, restoreCommand: feeder.restoreCommand, socketDir: sockets, log, target: plan.target }).catch((err: unknown) => {
      throw feeder?.failure() ?? err;
    });
    await feeder.stop();
    // The options recovery ran with (restore_command into the work directory) must not follow the directory.
    await fs.rm(path.join(staging, 'postmaster.opts'), { force: true });
    await fs.copyFile(log, path.join(staging, 'fbb_recovery.log'));
    const result: RecoveryResult = {
      target_dir: plan.target_dir,
      to_time: plan.target.kind === 'time' ? plan.target.at : 'latest',
      base_backup: plan.base_backup,
      chain: plan.chain,
      wal_range,
      wal_fetched: feeder.stats(),
      recovered_to,
      workflow_id: workflowId,
      duration_ms: Date.now() - started,
    };
    const record = `${JSON.stringify(result, null, 2)}\n`;
    if (inside) {
      // An existing directory (a mount point, say) stays: the data directory's entries move up into it, the record last.
      for (const entry of await fs.readdir(staging)) await fs.rename(path.join(staging, entry), path.join(plan.target_dir, entry));
      await fs.chmod(plan.target_dir, 0o700);
      await writeFileAtomic(path.join(plan.target_dir, RESTORE_RECORD), record);
      await handToServerUser(plan.target_dir);
    } else {
      await writeFileAtomic(path.join(staging, RESTORE_RECORD), record);
      await handToServerUser(staging);
      await fs.rename(staging, plan.target_dir);
      await fsyncDir(parent);
    }
    return result;
  } finally {
    stopBeats();
    await feeder?.stop();
    await fs.rm(work, { recursive: true, force: true });
    if (sockets !== undefined) await fs.rm(sockets, { recursive: true, force: true });
  }
}

/** The plan's WAL range; a plan from before the range said `partial` (it listed every file) says it through its list. */
function walRangeOf(plan: RecoveryPlan & { wal?: string[] }): WalRange {
  if (typeof plan.wal_range.partial === 'boolean') return plan.wal_range;
  return { first: plan.wal_range.first, last: plan.wal_range.last, partial: (plan.wal ?? []).some(isStoredPartial) };
}

/** The file in the working directory naming the run that made it. */
const OWNER = 'fbb-owner';

/**
 * Where the restore works: beside a target that does not exist yet (renamed into place at the end),
 * or inside an existing empty one, which may be a mount point on another file system. What an earlier
 * attempt of this same run left there goes first; anything else in the target makes assertEmptyDir refuse.
 */
async function workPlace(target: string, workflowId: string): Promise<{ work: string; inside: boolean }> {
  const inside = await fs.stat(target).then((s) => s.isDirectory(), () => false);
  const work = inside ? path.join(target, '.fbb-restoring') : path.join(path.dirname(target), `.${path.basename(target)}.fbb-restoring`);
  const owner = await fs.readFile(path.join(work, OWNER), 'utf8').catch(() => undefined);
  if (inside && owner === workflowId) {
    for (const entry of await fs.readdir(target)) await fs.rm(path.join(target, entry), { recursive: true, force: true });
  } else if (!inside) {
    await fs.rm(work, { recursive: true, force: true });
  }
  return { work, inside };
}

/** Extracts the backup (each of an incremental chain, then pg_combinebackup) into `staging`; also what a base backup's verification restores. */
export async function extractChain(config: Config, plan: Pick<RecoveryPlan, 'chain' | 'system_identifier'>, binDir: string, work: string, staging: string): Promise<void> {
  if (plan.chain.length === 1) return extract(config, plan, plan.chain[0]!, staging);
  const parts: string[] = [];
  for (const [i, name] of plan.chain.entries()) {
    const dir = path.join(work, `part${i}`);
    await extract(config, plan, name, dir);
    parts.push(dir);
  }
  await handToServerUser(work);
  const [file, args] = asServerUser(path.join(binDir, 'pg_combinebackup'), [...parts, '-o', staging]);
  const run = await execa(file, args, { reject: false, cancelSignal: Context.current().cancellationSignal });
  if (run.exitCode !== 0) throw permanent(ErrorType.RecoveryFailed, `pg_combinebackup of ${plan.chain.join(' + ')} exited with code ${String(run.exitCode)}: ${lastLines(run.stderr, 3)}; the target directory was left empty`);
  for (const dir of parts) await fs.rm(dir, { recursive: true, force: true });
}

/** One stored base backup, checked against its SHA-256 sidecar as it streams, decrypted, unpacked with tar. */
async function extract(config: Config, plan: Pick<RecoveryPlan, 'system_identifier'>, filename: string, into: string): Promise<void> {
  const file = path.join(config.backup.dir, baseDir(plan.system_identifier), filename);
  const expected = (await fs.readFile(`${file}${SHA256_SUFFIX}`, 'utf8').catch(() => '')).trim();
  await fs.mkdir(into, { recursive: true, mode: 0o700 });
  const counter = new HashCounter();
  const tar = execa('tar', ['-x', '-f', '-', '-C', into], { stdin: 'pipe', buffer: { stdout: false, stderr: true }, cancelSignal: Context.current().cancellationSignal });
  try {
    await Promise.all([pipeline(createReadStream(file), counter, ...(await decryptionStages(config, file, filename)), createGunzip(), tar.stdin), tar]);
  } catch (err) {
    const type = (err as { type?: string }).type;
    if (type === ErrorType.EncryptionKeyMismatch || type === ErrorType.EncryptionKeyMissing || type === ErrorType.BackupCorrupted) throw err;
    throw permanent(ErrorType.BackupCorrupted, `base backup ${file} does not unpack (${(err as Error).message}); the target directory was left empty; pick another moment or base backup`, err);
  }
  if (counter.digest() !== expected) {
    throw permanent(ErrorType.BackupCorrupted, `base backup ${file} failed its checksum (expected ${expected || 'a .sha256 sidecar'}, got ${counter.digest()}); the target directory was left empty; pick another moment ("fbb list")`);
  }
}
