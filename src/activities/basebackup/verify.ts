// Verification of a base backup: "verified means restored". The backup (its chain combined when
// incremental) and the archived WAL up to where its rows were counted are brought up as a scratch
// cluster in a directory of its own under the worker's state directory (VERIFY_SERVER_DIR/basebackup-verify),
// on a private socket; checked (verifyChecks.ts); stopped and removed, also on failure. What a killed
// worker left there is stopped and removed by the next verification. The manifest records the result
// in one atomic rewrite once every check passed: a killed verification leaves no manifest claiming one.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { BaseBackupManifest, BaseBackupVerification } from '../../basebackup/manifest';
import { BASE_MANIFEST_SUFFIX, baseDir } from '../../basebackup/naming';
import { defaultVerifyServerDir, type Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { checkDecryptable } from '../encryption';
import { every, writeFileAtomic } from '../stream';
import { readBaseManifests } from './facts';
import { extractChain } from './recover';
import { recoverAndInspect } from './recoveryRun';
import { handToServerUser, serverBinDir } from './serverUser';
import { FAILED_DIR, setAside } from './setAside';
import { removeLeftovers, writeOwner } from './scratchDirs';
import { checkRecovered } from './verifyChecks';
import { awaitArchivedWal } from './walReady';

/** Which base backup to verify; the workflow's ID names the scratch directory, so a retry finds its own. */
export interface VerifyBaseBackupRequest {
  filename: string;
  system_identifier: string;
  workflowId: string;
}

/** Failures that say the backup (or the WAL it needs) cannot be restored: it is set aside and not uploaded. */
const BACKUP_AT_FAULT: string[] = [ErrorType.BaseBackupVerificationFailed, ErrorType.BackupCorrupted, ErrorType.RecoveryFailed, ErrorType.WalArchiveDamaged];

/** Where the scratch clusters of base-backup verifications live. */
export function verifyScratchRoot(config: Config): string {
  return path.join(config.verify?.serverDir ?? defaultVerifyServerDir(), 'basebackup-verify');
}

/** Verifies `req.filename` and records the result in its manifest; a retry after it passed returns the recorded result. */
export async function verifyBaseBackup(config: Config, req: VerifyBaseBackupRequest): Promise<BaseBackupVerification> {
  const started = Date.now();
  const dir = path.join(config.backup.dir, baseDir(req.system_identifier));
  const all = await readBaseManifests(dir);
  const manifest = all.find((m) => m.filename === req.filename);
  if (manifest === undefined) {
    // An earlier attempt failed it and was killed while it moved its files aside (the file goes first): finish the move.
    if (await fs.stat(path.join(dir, FAILED_DIR, req.filename)).then(() => true, () => false)) {
      const aside = await setAside(dir, req.filename);
      throw permanent(ErrorType.BaseBackupVerificationFailed, `base backup "${req.filename}" failed verification in an earlier attempt; it was not uploaded, and was moved to ${aside} (kept for inspection; restores do not use it)`);
    }
    throw permanent(ErrorType.BackupNotFound, `base backup "${req.filename}" (with its manifest) is not in ${dir}; it cannot be verified; nothing was uploaded`);
  }
  if (manifest.verification !== null) return manifest.verification;
  const chain = chainOf(manifest, all);
  const binDir = await serverBinDir(config, manifest.pg_major);
  for (const b of chain) if (b.encryption) await checkDecryptable(config, path.join(dir, b.filename), b.filename);

  const root = verifyScratchRoot(config);
  await fs.mkdir(root, { recursive: true, mode: 0o755 });
  await removeLeftovers(root, req.workflowId);
  const work = path.join(root, createHash('sha256').update(req.workflowId).digest('hex').slice(0, 16));
  await fs.mkdir(work, { recursive: true, mode: 0o700 });
  // The postgres user walks down to the data directory when the worker is root.
  await fs.chmod(root, 0o755);
  const ctx = Context.current();
  const stopBeats = every(5_000, () => ctx.heartbeat({ step: 'verifying', filename: req.filename }));
  let sockets: string | undefined;
  try {
    await writeOwner(work, { workflow_id: req.workflowId });
    const lsn = manifest.counts_at?.lsn ?? manifest.end_lsn;
    const spool = path.join(work, 'wal');
    await fs.mkdir(spool, { recursive: true, mode: 0o700 });
    await awaitArchivedWal(config, { manifest, lsn, spool, binDir });
    const staging = path.join(work, 'data');
    await extractChain(config, { chain: chain.map((b) => b.filename), system_identifier: manifest.system_identifier }, binDir, work, staging);
    await prepareDataDir(staging);
    // A socket path has at most 107 bytes: a short directory of its own, recorded for the leftover sweep.
    sockets = await fs.mkdtemp(path.join(os.tmpdir(), 'fbb-bbverify-'));
    await writeOwner(work, { workflow_id: req.workflowId, socket_dir: sockets });
    await handToServerUser(work, sockets);
    const run = { binDir, dataDir: staging, spool, socketDir: sockets, log: path.join(work, 'recovery.log'), leftAs: 'the scratch cluster was removed' };
    const checks = await recoverAndInspect(run, lsn, (server) => checkRecovered({ server, binDir, manifest, user: config.database.user }));
    const verification: BaseBackupVerification = { verified_at: new Date().toISOString(), duration_ms: Date.now() - started, checks };
    await writeFileAtomic(path.join(dir, `${manifest.filename}${BASE_MANIFEST_SUFFIX}`), `${JSON.stringify({ ...manifest, verification }, null, 2)}\n`);
    return verification;
  } catch (err) {
    if (!(err instanceof ApplicationFailure) || !err.nonRetryable || !BACKUP_AT_FAULT.includes(err.type ?? '')) throw err;
    const aside = await setAside(dir, manifest.filename);
    const reason = err.type === ErrorType.BaseBackupVerificationFailed ? err.message : `base backup "${manifest.filename}" failed verification: ${err.message}`;
    throw permanent(ErrorType.BaseBackupVerificationFailed, `${reason}; it was not uploaded, and was moved to ${aside} (kept for inspection; restores do not use it)`, err);
  } finally {
    stopBeats();
    await fs.rm(work, { recursive: true, force: true });
    if (sockets !== undefined) await fs.rm(sockets, { recursive: true, force: true });
  }
}

/** full ← incremental ← … ← `m`, from the manifests beside it; BackupNotFound when a parent is missing. */
function chainOf(m: BaseBackupManifest, all: BaseBackupManifest[]): BaseBackupManifest[] {
  const chain = [m];
  for (let at = m; at.parent !== null; ) {
    const parent = all.find((b) => b.filename === at.parent);
    if (parent === undefined || chain.includes(parent)) throw permanent(ErrorType.BackupNotFound, `base backup "${m.filename}" is incremental to "${at.parent}", which is not beside it; it cannot be verified; nothing was uploaded`);
    chain.unshift(parent);
    at = parent;
  }
  return chain;
}

/** A restored data directory readied for a scratch run: recovery.signal, pg_wal, a configuration file, and socket-only trust (the socket directory is the server user's alone). */
async function prepareDataDir(staging: string): Promise<void> {
  await fs.writeFile(path.join(staging, 'recovery.signal'), '');
  await fs.mkdir(path.join(staging, 'pg_wal'), { recursive: true, mode: 0o700 });
  await fs.chmod(staging, 0o700);
  // A packaged server keeps postgresql.conf outside the data directory: the scratch cluster runs on defaults then.
  await fs.appendFile(path.join(staging, 'postgresql.conf'), '');
  await fs.writeFile(path.join(staging, 'pg_hba.conf'), 'local all all trust\n');
  await fs.writeFile(path.join(staging, 'pg_ident.conf'), '');
}
