// Reads the archive the WAL archiver writes (wal/<sysid>/, the layout in docs/operations.md) and the
// base backups: lists them, and fetches WAL into a spool directory, each file checked against its
// .sha256 sidecar, decrypted when it is age-encrypted, and decompressed.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Context } from '@temporalio/activity';
import type { BaseBackupManifest } from '../../basebackup/manifest';
import { baseDir, parseArchivedWal, SHA256_SUFFIX, walDir } from '../../basebackup/naming';
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

/** Fetches `files` of server `sysid` into `spool` under the names PostgreSQL asks for (a partial segment under its segment's name). */
export async function fetchWal(config: Config, sysid: string, files: string[], spool: string, segmentBytes: number): Promise<void> {
  const dir = path.join(config.backup.dir, walDir(sysid));
  let done = 0;
  for (const stored of files) {
    const parsed = parseArchivedWal(stored, segmentBytes)!;
    const source = path.join(dir, stored);
    const expected = (await fs.readFile(`${source}${SHA256_SUFFIX}`, 'utf8').catch(() => '')).trim();
    const target = path.join(spool, parsed.walName);
    const counter = new HashCounter();
    try {
      await pipeline(createReadStream(source), counter, ...(await decryptionStages(config, source, stored)), createGunzip(), createWriteStream(target, { mode: 0o600 }));
    } catch (err) {
      const type = (err as { type?: string }).type;
      if (type === ErrorType.EncryptionKeyMismatch || type === ErrorType.EncryptionKeyMissing) throw err;
      throw permanent(ErrorType.WalArchiveDamaged, `archived WAL ${source} does not read back (${(err as Error).message}); the restore stopped before starting the server; the target directory was not touched`, err);
    }
    const got = counter.digest();
    if (got !== expected) {
      throw permanent(ErrorType.WalArchiveDamaged, `archived WAL ${source} failed its checksum (expected ${expected || 'a .sha256 sidecar'}, got ${got}); the restore stopped before starting the server; the target directory was not touched`);
    }
    Context.current().heartbeat({ step: 'fetching WAL', files: ++done, of: files.length });
  }
}
