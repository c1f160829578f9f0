// Reads the archive the WAL archiver writes (wal/<sysid>/, the layout in docs/operations.md) and the
// base backups: lists them, and fetches one WAL file at a time for a recovering server, checked against
// its .sha256 sidecar, decrypted when it is age-encrypted, and decompressed.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import type { BaseBackupManifest } from '../../basebackup/manifest';
import { baseDir, parseArchivedWal, SHA256_SUFFIX, walDir } from '../../basebackup/naming';
import { isStoredPartial } from '../../wal/layout';
import type { ListedWal } from '../../basebackup/window';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { decryptionStages } from '../encryption';
import { HashCounter } from '../stream';
import { readBaseManifests } from './facts';

/** Every base backup in BACKUP_DIR/base/, of every server. */
export async function listBaseBackups(config: Config): Promise<BaseBackupManifest[]> {
  const servers = await fs.readdir(path.join(config.backup.dir, 'base')).catch(() => [] as string[]);
  const all = await Promise.all(servers.filter((s) => /^\d+$/.test(s)).map((s) => readBaseManifests(path.join(config.backup.dir, baseDir(s)))));
  return all.flat();
}

/** The archived WAL of server `sysid` that has its checksum sidecar, with when each file was written. */
export async function listArchivedWal(config: Config, sysid: string, segmentBytes: number): Promise<ListedWal[]> {
  const dir = path.join(config.backup.dir, walDir(sysid));
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: ListedWal[] = [];
  for (const stored of names) {
    const parsed = parseArchivedWal(stored, segmentBytes);
    if (parsed === undefined || !names.includes(`${stored}${SHA256_SUFFIX}`)) continue;
    const stat = await fs.stat(path.join(dir, stored)).catch(() => undefined);
    if (stat !== undefined) out.push({ ...parsed, modified_at: stat.mtime.toISOString(), size_bytes: stat.size });
  }
  return out;
}

/**
 * Fetches one archived file `stored` of server `sysid` to `target` (written under a temporary name, handed to
 * `owner` when given, renamed once it checked out): its stored bytes against the .sha256 sidecar, decrypted
 * when age-encrypted, gunzipped. WalArchiveDamaged when it does not read back or fails its checksum.
 */
export async function fetchWalFile(config: Config, req: { sysid: string; stored: string; target: string; owner?: { uid: number; gid: number } }): Promise<void> {
  const source = path.join(config.backup.dir, walDir(req.sysid), req.stored);
  const partial = isStoredPartial(req.stored);
  // A .partial copy is replaced in place (sidecar first): one that differs from its sidecar is read again once.
  for (let attempt = 1; ; attempt++) {
    const expected = (await fs.readFile(`${source}${SHA256_SUFFIX}`, 'utf8').catch(() => '')).trim();
    const tmp = path.join(path.dirname(req.target), `.${path.basename(req.target)}.part`);
    const counter = new HashCounter();
    try {
      await pipeline(createReadStream(source), counter, ...(await decryptionStages(config, source, req.stored)), createGunzip(), createWriteStream(tmp, { mode: 0o600 }));
    } catch (err) {
      await fs.rm(tmp, { force: true });
      const type = (err as { type?: string }).type;
      if (type === ErrorType.EncryptionKeyMismatch || type === ErrorType.EncryptionKeyMissing) throw err;
      throw permanent(ErrorType.WalArchiveDamaged, `archived WAL ${source} does not read back (${(err as Error).message}); recovery stopped there and the target directory was left empty; run "fbb list" to pick a moment before it`, err);
    }
    const got = counter.digest();
    if (got === expected) {
      if (req.owner !== undefined) await fs.chown(tmp, req.owner.uid, req.owner.gid);
      await fs.rename(tmp, req.target);
      return;
    }
    await fs.rm(tmp, { force: true });
    if (partial && attempt === 1) continue;
    throw permanent(ErrorType.WalArchiveDamaged, `archived WAL ${source} failed its checksum (expected ${expected || 'a .sha256 sidecar'}, got ${got}); recovery stopped there and the target directory was left empty; run "fbb list" to pick a moment before it`);
  }
}

/** Fetches all of `files` (stored names) of server `sysid` into `spool` up front, under the names PostgreSQL asks for: for a short range only (a restore to a moment uses a WalFeeder). */
export async function fetchWal(config: Config, sysid: string, files: string[], spool: string, segmentBytes: number): Promise<void> {
  for (const stored of files) await fetchWalFile(config, { sysid, stored, target: path.join(spool, parseArchivedWal(stored, segmentBytes)!.walName) });
}
