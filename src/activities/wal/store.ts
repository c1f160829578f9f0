// Stores one WAL file in the archive: gzip (then age when BACKUP_AGE_RECIPIENTS is set), its
// SHA-256 sidecar, atomically in BACKUP_DIR/wal/<sysid>/, then the same bytes under the same
// relative key in S3. Idempotent: a copy already stored whose bytes match its sidecar is kept.
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { DeleteObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { Config, S3Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { isNotFound, s3Key } from '../../storage/s3Store';
import { checksumName, checksumText, walDir } from '../../wal/layout';
import { encryptor } from '../encryption';
import { isDiskError } from '../failures';
import { fsyncDir, HashCounter, sha256File, writeFileAtomic } from '../stream';

/** Where the archive of one server is: its local folder and, when configured, S3. */
export interface WalTarget {
  /** Absolute: BACKUP_DIR/wal/<sysid>. */
  localDir: string;
  /** Relative to BACKUP_DIR and S3_PREFIX: wal/<sysid>. */
  relativeDir: string;
  recipients: string[];
  s3: { client: S3Client; config: S3Config } | undefined;
  /** Told each file as it is stored and sent (the session's watchdog: watchdog.ts). */
  touch?: (step: string) => void;
}

/** The archive of the server `systemIdentifier` under `config`'s BACKUP_DIR (and S3 through `s3Client`, when configured). */
export function walTarget(config: Config, systemIdentifier: string, s3Client: S3Client | undefined): WalTarget {
  const relativeDir = walDir(systemIdentifier);
  return {
    localDir: path.join(config.backup.dir, relativeDir),
    relativeDir,
    recipients: config.backup.ageRecipients,
    s3: s3Client === undefined || config.s3 === undefined ? undefined : { client: s3Client, config: config.s3 },
  };
}

/** A file as stored: its name in the folder, size and SHA-256. */
export interface StoredWal {
  stored: string;
  size_bytes: number;
  sha256: string;
  /** True when an intact copy was already there (a retried attempt). */
  skipped: boolean;
}

/** The local copy of `stored` when it is intact (its bytes match its sidecar); undefined otherwise. */
export async function intactLocal(target: WalTarget, stored: string): Promise<StoredWal | undefined> {
  const file = path.join(target.localDir, stored);
  const [stat, sidecar] = await Promise.all([fs.stat(file).catch(() => undefined), fs.readFile(path.join(target.localDir, checksumName(stored)), 'utf8').catch(() => undefined)]);
  if (stat === undefined || sidecar === undefined) return undefined;
  const sha256 = await sha256File(file);
  return sha256 === sidecar.trim() ? { stored, size_bytes: stat.size, sha256, skipped: true } : undefined;
}

/**
 * Compresses (and encrypts) `source` into `stored` in the local folder: a temporary name, fsync,
 * the sidecar (written the same way), rename, fsync of the folder. With `reuse`, an intact copy is kept.
 */
export async function storeLocal(target: WalTarget, source: string, stored: string, options: { reuse: boolean; signal?: AbortSignal }): Promise<StoredWal> {
  target.touch?.(`storing ${stored}`);
  if (options.reuse) {
    const existing = await intactLocal(target, stored);
    if (existing) return existing;
  }
  await fs.mkdir(target.localDir, { recursive: true });
  const tmp = path.join(target.localDir, `.${stored}.tmp-${process.pid}-${Date.now()}`);
  const counter = new HashCounter();
  let sha256: string;
  try {
    const stages = target.recipients.length > 0 ? [encryptor(target.recipients, options.signal)] : [];
    await pipeline(createReadStream(source), zlib.createGzip({ level: 6 }), ...stages, counter, createWriteStream(tmp, { flags: 'wx' }), ...(options.signal ? [{ signal: options.signal }] : []));
    const handle = await fs.open(tmp, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    // The sidecar first: a stored file that is there always has its checksum beside it.
    sha256 = counter.digest();
    await writeFileAtomic(path.join(target.localDir, checksumName(stored)), checksumText(sha256));
    await fs.rename(tmp, path.join(target.localDir, stored));
    await fsyncDir(target.localDir);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    if (isDiskError(err)) {
      throw permanent(ErrorType.BackupDirFull, `cannot store WAL file ${stored} in ${target.localDir} (${(err as NodeJS.ErrnoException).code}); free space there or fix BACKUP_DIR's permissions; the file stays in the spool and is archived once the archive is restarted`, err);
    }
    throw err;
  }
  return { stored, size_bytes: counter.bytes, sha256, skipped: false };
}

/**
 * Copies the local `stored` file to S3 under the same relative key (its sidecar first), with its
 * SHA-256 in the object's metadata, then checks the stored size and checksum. An object
 * already there with the same checksum is not sent again. True when it was sent.
 */
export async function uploadStored(target: WalTarget, file: StoredWal, signal?: AbortSignal): Promise<boolean> {
  if (target.s3 === undefined) return false;
  target.touch?.(`sending ${file.stored} to S3`);
  const { client, config } = target.s3;
  const key = s3Key(config, `${target.relativeDir}/${file.stored}`);
  return upload(client, { bucket: config.bucket, key, source: path.join(target.localDir, file.stored), file, signal }).catch((err: unknown) => {
    throw transient(ErrorType.UploadFailed, `upload of WAL file ${file.stored} to s3://${config.bucket}/${key} failed: ${(err as Error).message}; it stays in the spool and is uploaded again on the next attempt`, err);
  });
}

/** PUTs `source` under `key` (its sidecar first) and checks what S3 holds; skips an object already there with the same size and checksum. */
async function upload(client: S3Client, { bucket, key, source, file, signal }: { bucket: string; key: string; source: string; file: StoredWal; signal?: AbortSignal }): Promise<boolean> {
  const head = await headSha(client, bucket, key);
  if (head?.sha256 === file.sha256 && head.size === file.size_bytes) return false;
  // As locally: the sidecar first, so an object that is there always has its checksum beside it.
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: checksumName(key), Body: checksumText(file.sha256), ContentType: 'text/plain' }), { abortSignal: signal });
  await client.send(
    new PutObjectCommand({
      Bucket: bucket,
      Key: key,
      Body: createReadStream(source),
      ContentLength: file.size_bytes,
      ContentType: 'application/octet-stream',
      Metadata: { sha256: file.sha256 },
    }),
    { abortSignal: signal },
  );
  const after = await headSha(client, bucket, key);
  if (after?.size !== file.size_bytes || after.sha256 !== file.sha256) {
    await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
    throw new Error(`s3://${bucket}/${key} holds ${String(after?.size)} bytes with sha256 ${String(after?.sha256)}, expected ${file.size_bytes} bytes with ${file.sha256}; the copy was deleted and is sent again`);
  }
  return true;
}

/** Removes stored files (and their sidecars) by name, locally and in S3; what is already gone is fine. */
export async function removeStored(target: WalTarget, names: string[]): Promise<void> {
  for (const name of names) {
    for (const file of [name, checksumName(name)]) {
      await fs.rm(path.join(target.localDir, file), { force: true });
      if (target.s3) await target.s3.client.send(new DeleteObjectCommand({ Bucket: target.s3.config.bucket, Key: s3Key(target.s3.config, `${target.relativeDir}/${file}`) }));
    }
  }
}

async function headSha(client: S3Client, bucket: string, key: string): Promise<{ size: number; sha256: string | undefined } | undefined> {
  try {
    const out = await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return { size: out.ContentLength ?? -1, sha256: out.Metadata?.sha256 };
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * True when the archive holds `stored` where every host can read it: in S3 when S3 is configured (a
 * local copy on one host's BACKUP_DIR is not, with a folder per host), else in the local folder.
 */
export async function archiveHolds(target: WalTarget, stored: string): Promise<boolean> {
  if (target.s3 === undefined) return fs.stat(path.join(target.localDir, stored)).then(() => true, () => false);
  return (await headSha(target.s3.client, target.s3.config.bucket, s3Key(target.s3.config, `${target.relativeDir}/${stored}`))) !== undefined;
}

/** Removes temporary files an attempt killed mid-write left in the local folder (only one archiver writes there). */
export async function removeTemporaries(target: WalTarget): Promise<void> {
  const names = await fs.readdir(target.localDir).catch(() => [] as string[]);
  for (const name of names) if (/^\..+\.tmp-\d+-\d+$/.test(name)) await fs.rm(path.join(target.localDir, name), { force: true });
}
