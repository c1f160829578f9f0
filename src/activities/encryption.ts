// Client-side encryption with age (X25519 recipients, https://age-encryption.org/v1), in constant
// memory. Backups are encrypted by the age binary (Debian's `age`; the npm package age-encryption,
// by age's author, is many times slower, see the README's performance section) and decrypted by the
// npm package, so a file written here decrypts with the age CLI (`age -d -i key file | gunzip |
// psql`) and the CLI's files decrypt here. Keys never leave this module: recipients come from the
// config (handed to age in a file of its own), the private key from a file read when needed;
// neither goes into workflow data, logs or a process's arguments.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Duplex, Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { armor, Decrypter, Encrypter, identityToRecipient } from 'age-encryption';
import { execa, ExecaError } from 'execa';
import type { EncryptionInfo } from '../backup/manifest';
import { parseBackupName, type BackupFormat } from '../backup/naming';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';

/** The first line of every binary age file. */
export const AGE_MAGIC = 'age-encryption.org/v1\n';

/**
 * Whether the backup `filename` is to be encrypted, and to whom; checked before anything is
 * written. A `.age` name needs BACKUP_AGE_RECIPIENTS; a plain name while BACKUP_AGE_RECIPIENTS is
 * set is refused rather than written in clear text; custom-format files are not encrypted (yet).
 */
export function encryptionFor(config: Config, filename: string, format: BackupFormat): EncryptionInfo | null {
  const recipients = config.backup.ageRecipients;
  const encrypted = parseBackupName(filename)?.encrypted === true;
  if (encrypted && recipients.length === 0) {
    throw permanent(ErrorType.EncryptionKeyMissing, `backup "${filename}" is to be encrypted (its name ends in .age), but BACKUP_AGE_RECIPIENTS is not set on the worker; set it to the age public key(s) (age-keygen -y key.txt) and run again; nothing was written`);
  }
  if (!encrypted && recipients.length > 0) {
    throw permanent(ErrorType.InvalidBackupInput, `BACKUP_AGE_RECIPIENTS is set, but backup "${filename}" has no .age suffix, so it would be written in clear text; it was not written. Start the backup again (a workflow started by an older version names its file without .age)`);
  }
  if (!encrypted) return null;
  if (format === 'custom') {
    throw permanent(ErrorType.InvalidBackupInput, `backup "${filename}": custom-format backups cannot be encrypted (pg_restore needs a plain, seekable file); use format plain_gzip or plain_zstd, or unset BACKUP_AGE_RECIPIENTS; nothing was written`);
  }
  return { format: 'age', recipients: [...recipients] };
}

/**
 * A transform that encrypts what flows through it to `recipients` (binary age format), by the age
 * binary: the recipients go to it in a file of its own (mode 600, removed when it exits), never on
 * its command line. It sees PATH only. Check for the binary first with requireAgeBinary.
 */
export function encryptor(recipients: string[], signal?: AbortSignal): Duplex {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fbb-age-'));
  const file = path.join(dir, 'recipients');
  writeFileSync(file, `${recipients.join('\n')}\n`, { mode: 0o600 });
  const child = execa('age', ['--encrypt', '--recipients-file', file], {
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    cancelSignal: signal,
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 64 * 1024 },
  });
  // Settled here: its pipeline hears a failure through the duplex; the file goes once age has exited.
  void child.catch(() => undefined).finally(() => rmSync(dir, { recursive: true, force: true }));
  const duplex = child.duplex();
  // A failure after the pipeline was torn down by another stage's failure must not be uncaught.
  duplex.on('error', () => undefined);
  return duplex;
}

/** Before anything is written: an encrypted backup needs the age binary on the worker's PATH; a named, non-retryable DumpFailed otherwise. */
export async function requireAgeBinary(filename: string): Promise<void> {
  await execa('age', ['--version'], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' }, extendEnv: false }).catch((err: unknown) => {
    if (err instanceof ExecaError && err.code === 'ENOENT') {
      throw permanent(ErrorType.DumpFailed, `backup "${filename}" is to be encrypted, but the age binary is not installed on this worker (not found on PATH ${process.env.PATH ?? ''}); install it (Debian: apt-get install age) and run again; nothing was written`, err);
    }
    throw err;
  });
}

/** True when `err` came from the age binary (a stage made by encryptor). */
export function isAgeError(err: unknown): err is ExecaError {
  return err instanceof ExecaError && /^age\b/.test(err.command);
}

/** Encrypts a small text (a manifest's password hashes) to `recipients`, ASCII-armored. */
export async function encryptText(recipients: string[], text: string): Promise<string> {
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  return armor.encode(await encrypter.encrypt(text));
}

/** Decrypts a text made by encryptText with the configured private key; `what` names it in errors. */
export async function decryptText(config: Config, armored: string, what: string): Promise<string> {
  const identities = await readIdentities(config, what);
  const decrypter = new Decrypter();
  for (const i of identities) decrypter.addIdentity(i);
  try {
    return await decrypter.decrypt(armor.decode(armored), 'text');
  } catch (err) {
    throw await keyError(err, what, identities);
  }
}

/** True when `file` starts with age's header line (a file written by this module or the age CLI). */
export async function isAgeFile(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(AGE_MAGIC.length);
    const { bytesRead } = await handle.read(head, 0, head.length, 0);
    return bytesRead === head.length && head.toString('latin1') === AGE_MAGIC;
  } finally {
    await handle.close();
  }
}

/**
 * The stages that turn a backup file's bytes into its format's bytes: a decryptor for an age
 * file, nothing otherwise. Hooked into every read of a backup (verification, restores).
 */
export async function decryptionStages(config: Config, file: string, filename: string): Promise<Duplex[]> {
  return (await isAgeFile(file)) ? [await decryptor(config, filename)] : [];
}

/** A transform that decrypts the age-encrypted backup `filename` with BACKUP_AGE_IDENTITY_FILE; a missing or wrong key fails before any output. */
export async function decryptor(config: Config, filename: string): Promise<Duplex> {
  const identities = await readIdentities(config, `backup "${filename}"`);
  const decrypter = new Decrypter();
  for (const i of identities) decrypter.addIdentity(i);
  return Duplex.from(async function* (source: AsyncIterable<Uint8Array>) {
    let out;
    try {
      out = await decrypter.decrypt(webStream(source));
    } catch (err) {
      throw await keyError(err, `backup "${filename}"`, identities);
    }
    try {
      for await (const chunk of out as unknown as AsyncIterable<Uint8Array>) yield toBuffer(chunk);
    } catch (err) {
      throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" does not decrypt (${(err as Error).message}): the file was damaged after it was written; nothing was restored from it`, err);
    }
  });
}

/**
 * Before anything changes: an age file must be decryptable with BACKUP_AGE_IDENTITY_FILE. Reads
 * only the header (and first chunk); EncryptionKeyMissing or EncryptionKeyMismatch otherwise.
 */
export async function checkDecryptable(config: Config, file: string, filename: string): Promise<void> {
  if (!(await isAgeFile(file))) return;
  const identities = await readIdentities(config, `backup "${filename}"`);
  const decrypter = new Decrypter();
  for (const i of identities) decrypter.addIdentity(i);
  const input = createReadStream(file);
  try {
    const out = await decrypter.decrypt(Readable.toWeb(input) as unknown as ReadableStream<Uint8Array>);
    await out.cancel();
  } catch (err) {
    throw await keyError(err, `backup "${filename}"`, identities);
  } finally {
    input.destroy();
  }
}

/** The private keys in BACKUP_AGE_IDENTITY_FILE (lines AGE-SECRET-KEY-1…); EncryptionKeyMissing when there are none. */
async function readIdentities(config: Config, what: string): Promise<string[]> {
  const file = config.backup.ageIdentityFile;
  if (file === undefined) {
    throw permanent(ErrorType.EncryptionKeyMissing, `${what} is encrypted with age, but BACKUP_AGE_IDENTITY_FILE is not set on the worker; set it to the file holding the private key (AGE-SECRET-KEY-1…) and run again; nothing was changed`);
  }
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw permanent(ErrorType.EncryptionKeyMissing, `${what} is encrypted with age, but BACKUP_AGE_IDENTITY_FILE ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); make it readable by the worker and run again; nothing was changed`, err);
  }
  const keys = text.split('\n').map((l) => l.trim()).filter((l) => /^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(l));
  if (keys.length === 0) {
    throw permanent(ErrorType.EncryptionKeyMissing, `${what} is encrypted with age, but BACKUP_AGE_IDENTITY_FILE ${file} holds no AGE-SECRET-KEY-1… line (expected a file written by age-keygen); nothing was changed`);
  }
  return keys;
}

/** A header that no configured key opens is EncryptionKeyMismatch, naming the keys' public halves only. */
async function keyError(err: unknown, what: string, identities: string[]): Promise<Error> {
  const message = (err as Error).message ?? String(err);
  if (/no identity matched/i.test(message)) {
    const mine = (await Promise.all(identities.map(safeRecipient))).join(', ');
    return permanent(ErrorType.EncryptionKeyMismatch, `${what} was not encrypted to the key in BACKUP_AGE_IDENTITY_FILE (its public key: ${mine}); point BACKUP_AGE_IDENTITY_FILE at the private key of one of the recipients its manifest names; nothing was changed`, err);
  }
  return permanent(ErrorType.BackupCorrupted, `${what} has no valid age header (${message}); nothing was changed; pick another backup with "fbb list"`, err);
}

async function safeRecipient(identity: string): Promise<string> {
  return identityToRecipient(identity).catch(() => 'unknown');
}

function webStream(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  return Readable.toWeb(Readable.from(source, { objectMode: false })) as unknown as WebReadableStream<Uint8Array> as unknown as ReadableStream<Uint8Array>;
}

function toBuffer(chunk: Uint8Array): Buffer {
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
