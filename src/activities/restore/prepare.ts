import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { manifestName, parseManifest, type BackupManifest } from '../../backup/manifest';
import { parseBackupName, timestampToDate, type BackupFormat } from '../../backup/naming';
import type { BackupAbout, BackupFacts } from '../../backup/plausibility';
import type { Config } from '../../config';
import { decompressor } from '../compression';
import { ErrorType, permanent } from '../../errors';
import { copyBackup } from '../../storage/copy';
import { LocalStore } from '../../storage/localStore';
import { createS3Client } from '../../storage/s3Client';
import { S3Store } from '../../storage/s3Store';
import { NotInStoreError } from '../../storage/store';
import { requireS3 } from '../backup/upload';
import type pg from 'pg';
import { connect } from '../db';
import { databaseUnreachable } from '../failures';
import { describeS3Error, isS3Failure, s3Hint, s3Unavailable } from '../doctor/s3';
import { sha256File } from '../stream';
import { checkDecryptable } from '../encryption';
import { checkTenantId, type TenantRef } from '../../partial/tenantId';
import { checkPlausible, manifestFacts, type PlausibilityOptions } from './plausible';
import { DumpScanner } from './scan';

/** What the restore needs to know about its backup, once validated. */
export interface PreparedRestore {
  filename: string;
  format: BackupFormat;
  /** null for a Windmill-era file without manifest (its gzip integrity was checked instead). */
  sha256: string | null;
  has_manifest: boolean;
  /** Dump-time row counts; null without manifest (the restore then records the counts it finds). */
  table_details: Record<string, number> | null;
  extensions: string[];
  roles_needed: string[];
  /** Roles the target server lacks; created just before restoring. */
  roles_missing: string[];
  fetched_from_s3: boolean;
  /** false: create missing roles NOLOGIN without password (the old behaviour) instead of as the backup recorded them. */
  recreate_roles?: boolean;
  /** false: create no role at all (a partial restore's default); missing roles were refused with RolesMissing. */
  create_roles?: false;
  /**
   * Whether the live database exists on the server: false on a brand-new server (disaster
   * recovery), where the restore creates it. Absent in histories from before 0.3: it existed.
   */
  target_exists?: boolean;
  /** Inheritance children the restore recreates with their columns in another order (pg_dump's limitation; the manifest's column_order). */
  column_order_changed?: string[];
  /** What a confirmation shows (source database, time, size, the live database, doubts); absent when not checked (a rollback's pre-restore backup). */
  about?: BackupAbout;
}

/** How a restore is prepared (the activity's options, as the workflows pass them). */
export interface PrepareOptions {
  allow_unverified?: boolean;
  recreate_roles?: boolean;
  /** false: create no missing role (partial restores, unless asked); the restore then refuses with RolesMissing. */
  create_roles?: boolean;
  /** Judge the backup against the live database (every restore; not a rollback to its own pre-restore backup). */
  plausibility?: PlausibilityOptions;
  /** A tenant restore's tenant: its id must be a value of the tenants' key type. */
  tenant?: TenantRef;
}

/**
 * Step 1 of a restore, before anything changes: the name is a backup name, the backup exists at
 * its source (an S3 one is streamed into BACKUP_DIR), its SHA-256 matches the manifest (or,
 * without manifest, it gunzips cleanly), the server has every extension it needs, and every
 * role it names exists or can be created; with `plausibility`, the backup is judged against the
 * live database (./plausible.ts), and with `tenant`, the tenant id against its key's type.
 * Any failure is non-retryable and names what to do.
 */
export async function prepareRestore(config: Config, filename: string, source: 'local' | 's3', options: PrepareOptions = {}): Promise<PreparedRestore> {
  const name = parseBackupName(filename);
  if (name === undefined) {
    throw permanent(ErrorType.InvalidBackupName, `"${filename}" is not a backup file name (expected <prefix>_<type>_<YYYYMMDD_HHMMSS>.sql.gz, no directories); run "fbb list" to see the backups`);
  }
  if (options.tenant !== undefined) await checkTenantId(config, options.tenant);
  const file = path.join(config.backup.dir, filename);
  let fetched = false;
  if (source === 's3') fetched = await fetchFromS3(config, filename);
  const present = await fs.stat(file).then(
    (s) => s.isFile(),
    () => false,
  );
  if (!present) {
    throw permanent(ErrorType.BackupNotFound, `backup "${filename}" is not in ${config.backup.dir}; run "fbb list --include-s3" to see the backups, or restore with backup_source "s3"`);
  }
  const manifest = await readManifest(config.backup.dir, filename);
  if (manifest?.status === 'failed') {
    throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" failed its verification when it was made; it will not be restored; run "fbb list" to pick another`);
  }
  if (manifest?.status === 'dumped' && options.allow_unverified !== true) {
    throw permanent(
      ErrorType.BackupUnverified,
      `backup "${filename}" was never verified (its manifest says "dumped": the backup run stopped before restoring it into a scratch database, e.g. on a full disk or a lost server); ` +
        'nothing was changed; pick a verified backup with "fbb list", or restore this one anyway with --allow-unverified (allow_unverified: true), whose restore beside the live database still checks every table\'s row count before anything is swapped in',
    );
  }

  // An age-encrypted backup must open with BACKUP_AGE_IDENTITY_FILE: EncryptionKeyMissing/Mismatch now, not after the pre-restore backup.
  await checkDecryptable(config, file, filename);
  let extensions: string[];
  let roles: string[];
  let facts: BackupFacts;
  if (manifest) {
    const actual = await sha256File(file, (bytes) => Context.current().heartbeat({ step: 'validate', bytes }));
    if (actual !== manifest.sha256) {
      throw permanent(
        ErrorType.BackupCorrupted,
        `backup "${filename}" failed its checksum (expected ${manifest.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…); it was not restored; run "fbb list" to pick another`,
      );
    }
    extensions = manifest.extensions.map((e) => e.name);
    roles = manifest.roles ?? [];
    facts = manifestFacts(manifest);
  } else {
    // Without a manifest (Windmill's files) the dump itself says what it needs.
    const decompress = decompressor(name.format);
    if (decompress === undefined) {
      throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" has no manifest (${manifestName(filename)}), and a custom-format file cannot be checked without one; it was not restored; restore it by hand with pg_restore, or run "fbb list" to pick another`);
    }
    const scanner = new DumpScanner((bytes) => Context.current().heartbeat({ step: 'scan', bytes }));
    await pipeline(createReadStream(file), decompress, scanner).catch((err: unknown) => {
      throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" does not decompress (${(err as Error).message.split('\n')[0]}); it was not restored; run "fbb list" to pick another`, err);
    });
    extensions = [...scanner.needs.extensions].sort();
    roles = [...scanner.needs.roles].sort();
    const created = timestampToDate(name.timestamp, config.backup.timezone).toISOString();
    facts = { filename, database: null, created_at: created, size_bytes: (await fs.stat(file)).size, tables: scanner.tables, complete: scanner.complete };
  }

  const { rolesMissing, targetExists } = await checkServer(config, { filename, extensions, roles, dumpedFrom: manifest, mayCreateRoles: options.create_roles !== false });
  const about = options.plausibility === undefined ? undefined : await checkPlausible(config, facts, targetExists, options.plausibility);
  return {
    filename,
    format: name.format,
    sha256: manifest?.sha256 ?? null,
    has_manifest: manifest !== undefined,
    table_details: manifest?.table_details ?? null,
    extensions,
    roles_needed: roles,
    roles_missing: rolesMissing,
    fetched_from_s3: fetched,
    ...(options.recreate_roles === false ? { recreate_roles: false } : {}),
    ...(options.create_roles === false ? { create_roles: false as const } : {}),
    target_exists: targetExists,
    ...(manifest?.column_order?.length ? { column_order_changed: manifest.column_order.map((c) => c.table) } : {}),
    ...(about === undefined ? {} : { about }),
  };
}

/** The local manifest; undefined when there is none; a manifest that does not parse is a non-retryable ManifestUnreadable. */
async function readManifest(dir: string, filename: string): Promise<BackupManifest | undefined> {
  let text: string;
  try {
    text = await fs.readFile(path.join(dir, manifestName(filename)), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    // A directory (EISDIR), no permission, an I/O error: there is a manifest, and it cannot be read; retrying will not change that.
    throw permanent(
      ErrorType.ManifestUnreadable,
      `backup "${filename}" has a manifest that cannot be read (${path.join(dir, manifestName(filename))}: ${(err as Error).message}); nothing was changed; ` +
        `make it a readable file, or move it away to restore the file as one without manifest, or pick another backup with "fbb list"`,
      err,
    );
  }
  try {
    return parseManifest(text, manifestName(filename));
  } catch (err) {
    throw permanent(
      ErrorType.ManifestUnreadable,
      `backup "${filename}" has a manifest that cannot be read (${(err as Error).message}); nothing was changed; ` +
        `a manifest is written by fbb only, so the file beside it is suspect too: pick another backup with "fbb list", or move ${manifestName(filename)} away to restore the file as one without manifest`,
      err,
    );
  }
}

/** What checkServer checks the server against: the backup's needs and, from its manifest, the versions it was dumped with. */
interface BackupNeeds {
  filename: string;
  extensions: string[];
  roles: string[];
  dumpedFrom: Pick<BackupManifest, 'server_version' | 'pg_dump_version'> | undefined;
  /** false: a missing role is reported, not created (partial restores, unless asked). */
  mayCreateRoles: boolean;
}

/**
 * The server must be the backup's major or newer (a dump restores forward, not back), offer every
 * extension, and missing roles must be creatable by us. Returns the missing roles and whether the live database exists.
 */
async function checkServer(config: Config, { filename, extensions, roles, dumpedFrom, mayCreateRoles }: BackupNeeds): Promise<{ rolesMissing: string[]; targetExists: boolean }> {
  const client = await connect(config.database, config.database.maintenanceDatabase).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    if (dumpedFrom !== undefined) await checkServerVersion(client, filename, dumpedFrom);
    const available = await client.query<{ name: string }>('SELECT name FROM pg_available_extensions WHERE name = ANY($1)', [extensions]);
    const have = new Set(available.rows.map((r) => r.name));
    const lacking = extensions.filter((e) => !have.has(e));
    if (lacking.length > 0) {
      throw permanent(
        ErrorType.ExtensionUnavailable,
        `backup "${filename}" needs extension(s) ${lacking.join(', ')}, which this server does not offer (pg_available_extensions); ` +
          'install them on the server (pgvector: the pgvector/pgvector image, or scripts/install-deps.sh) and restore again; nothing was changed',
      );
    }
    const existing = await client.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [roles]);
    const found = new Set(existing.rows.map((r) => r.rolname));
    const missing = roles.filter((r) => !found.has(r));
    if (missing.length > 0 && !mayCreateRoles) {
      throw permanent(
        ErrorType.RolesMissing,
        `backup "${filename}" grants to or is owned by role(s) ${missing.join(', ')}, which this server lacks; a tenant or table restore creates no roles unless asked ` +
          `(a role dropped on purpose must not come back with its old password): create them first (CREATE ROLE ${missing[0]} NOLOGIN;), ` +
          'or ask for them in the input: "recreate_roles": true (as the backup recorded them) or false (NOLOGIN, no password); nothing was changed',
      );
    }
    if (missing.length > 0) {
      const me = await client.query<{ can: boolean }>('SELECT rolsuper OR rolcreaterole AS can FROM pg_roles WHERE rolname = current_user');
      if (!me.rows[0]?.can) {
        throw permanent(
          ErrorType.RolesMissing,
          `backup "${filename}" grants to or is owned by role(s) ${missing.join(', ')}, which this server lacks, and ${config.database.user} may not create roles; ` +
            `create them first (CREATE ROLE ${missing[0]} NOLOGIN;) or restore as a user with CREATEROLE; nothing was changed`,
        );
      }
    }
    const target = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [config.database.database]);
    return { rolesMissing: missing, targetExists: target.rowCount === 1 };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A backup restores onto its own server's major or a newer one; an older server is refused (ServerTooOld) before anything changes. */
async function checkServerVersion(client: pg.Client, filename: string, dumpedFrom: NonNullable<BackupNeeds['dumpedFrom']>): Promise<void> {
  const { rows } = await client.query<{ version: string; num: string }>("SELECT current_setting('server_version') AS version, current_setting('server_version_num') AS num");
  const target = { version: rows[0]!.version, major: Math.floor(Number(rows[0]!.num) / 10000) };
  const dumpMajor = majorOf(dumpedFrom.server_version);
  if (dumpMajor !== undefined && target.major < dumpMajor) {
    throw permanent(
      ErrorType.ServerTooOld,
      `backup "${filename}" was dumped from PostgreSQL ${dumpedFrom.server_version} (pg_dump ${dumpedFrom.pg_dump_version}) and this server is PostgreSQL ${target.version}, an older major; ` +
        `a dump restores onto its own major or a newer one (an older server does not know some of its statements and catalog settings, e.g. SET transaction_timeout from 17); ` +
        `nothing was changed; restore onto a PostgreSQL ${dumpMajor} or newer server`,
    );
  }
}

/** 15 from "15.20 (Debian 15.20-0+deb12u1)" or "17.11"; undefined when unreadable. */
export function majorOf(version: string): number | undefined {
  const match = /^(\d+)/.exec(version.trim());
  return match ? Number(match[1]) : undefined;
}

/** Copies the object, then its manifest, into BACKUP_DIR through the stores; false if the local copy already matched. */
async function fetchFromS3(config: Config, filename: string): Promise<boolean> {
  const s3 = requireS3(config);
  const client = createS3Client(s3);
  const remote = new S3Store(client, s3, config.backup.prefix);
  try {
    // S3 not answering is not an unreadable manifest (the soak, seed 2626: restore × S3 down was ManifestUnreadable, "pick another backup").
    const unavailable = (err: unknown, what: string) => s3Unavailable(err, `cannot read ${what} in ${remote.where()}${s3.endpoint ? ` at ${s3.endpoint}` : ''} (${describeS3Error(err)}); ${s3Hint(err, 'read')}; nothing was changed`);
    const manifest = await remote.getManifest(filename).catch((err: unknown) => {
      if (isS3Failure(err)) throw unavailable(err, `the manifest of "${filename}"`);
      throw permanent(ErrorType.ManifestUnreadable, `the manifest of "${filename}" in S3 cannot be read (${(err as Error).message}); nothing was changed; run "fbb list --include-s3" to pick another backup`, err);
    });
    const ctx = Context.current();
    const copied = await copyBackup(remote, new LocalStore(config.backup.dir, config.backup.prefix), filename, manifest, {
      signal: ctx.cancellationSignal,
      onProgress: (bytes) => ctx.heartbeat({ step: 'fetch', bytes }),
    }).catch((err: unknown) => {
      if (err instanceof NotInStoreError) {
        throw permanent(ErrorType.BackupNotFound, `backup "${filename}" is not in ${remote.where()}; run "fbb list --include-s3" to see the backups`, err);
      }
      if (isS3Failure(err)) throw unavailable(err, `"${filename}"`);
      throw err;
    });
    return !copied.skipped_existing;
  } finally {
    client.destroy();
  }
}
