// Retention of the physical backups (src/basebackup/retention.ts) carried out in BACKUP_DIR and, when
// configured, in S3, each place on its own listing (as the dump prune does): base backups outside the
// recovery window that no kept backup needs, the archived WAL no kept base backup needs, and (locally)
// base backups that failed verification once the window has passed since they were taken.
import fs from 'node:fs/promises';
import path from 'node:path';
import { DeleteObjectCommand, GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { Context } from '@temporalio/activity';
import { parseBaseManifest, type BaseBackupManifest } from '../../basebackup/manifest';
import { BASE_MANIFEST_SUFFIX, baseDir, parseArchivedWal, parseBaseBackupName, PG_MANIFEST_SUFFIX, SHA256_SUFFIX, walDir } from '../../basebackup/naming';
import { applyBaseRetention, applyFailedRetention, DEFAULT_BASEBACKUP_RETENTION_DAYS, type PhysicalDecision, type RetentionWal } from '../../basebackup/retention';
import type { Config, S3Config } from '../../config';
import { createS3Client } from '../../storage/s3Client';
import { s3Key } from '../../storage/s3Store';
import type { Location } from '../../storage/store';
import { readBaseManifests } from './facts';
import { failedFiles, listFailed } from './failed';

/** One decision in one place, about one server's backups; `removed` once carried out (false on a dry run or a keep). */
export interface PhysicalPruneDecision extends PhysicalDecision {
  location: Location;
  system_identifier: string;
  removed: boolean;
}

/** One place's listing of one server: its base backups (with a readable manifest) and WAL files (with or without sidecar). */
export interface Listing {
  backups: BaseBackupManifest[];
  wal: RetentionWal[];
}

/** The files a place holds for one server, and how to remove one by its relative name. */
export interface Place {
  location: Location;
  servers(): Promise<string[]>;
  list(sysid: string): Promise<Listing>;
  remove(relative: string): Promise<void>;
}

/**
 * Applies RETENTION_BASEBACKUP_DAYS to every server's base backups and WAL archive, locally and in
 * S3. With `dryRun`, only reports. A base backup's manifest goes first (a backup without one is no
 * longer listed or restored from), then the file and its other sidecars; idempotent, so a retried
 * attempt finishes what an earlier one began.
 */
export async function prunePhysicalBackups(config: Config, options: { dryRun: boolean; now?: string }): Promise<PhysicalPruneDecision[]> {
  const now = options.now ? new Date(options.now) : new Date();
  const days = config.basebackup?.retentionDays ?? DEFAULT_BASEBACKUP_RETENTION_DAYS;
  const ctx = activityContext();
  const client = config.s3 === undefined ? undefined : createS3Client(config.s3);
  try {
    const places = [localPlace(config.backup.dir), ...(client && config.s3 ? [s3Place(client, config.s3)] : [])];
    const decisions: PhysicalPruneDecision[] = [];
    for (const place of places) {
      for (const sysid of await place.servers()) {
        const listing = await place.list(sysid);
        ctx?.heartbeat({ step: 'prune', location: place.location, listed: sysid });
        for (const d of applyBaseRetention({ ...listing, days, now })) {
          const remove = d.action === 'remove' && !options.dryRun;
          if (remove) {
            const files = d.type === 'wal' ? [`${walDir(sysid)}/${d.filename}`, `${walDir(sysid)}/${d.filename}${SHA256_SUFFIX}`] : baseFiles(sysid, d.filename);
            for (const f of files) await place.remove(f);
            ctx?.heartbeat({ step: 'prune', location: place.location, file: d.filename });
          }
          decisions.push({ ...d, location: place.location, system_identifier: sysid, removed: remove });
        }
      }
    }
    // Failed verification: in BACKUP_DIR only (never uploaded), removed after the window; nothing else depends on them.
    for (const sysid of await places[0]!.servers()) {
      for (const d of applyFailedRetention({ failed: await listFailed(config, sysid), days, now })) {
        const remove = d.action === 'remove' && !options.dryRun;
        if (remove) for (const f of failedFiles(sysid, d.filename)) await places[0]!.remove(f);
        decisions.push({ ...d, location: 'local', system_identifier: sysid, removed: remove });
      }
    }
    return decisions;
  } finally {
    client?.destroy();
  }
}

/** A base backup's files, its manifest first. */
function baseFiles(sysid: string, filename: string): string[] {
  const at = `${baseDir(sysid)}/${filename}`;
  return [`${at}${BASE_MANIFEST_SUFFIX}`, at, `${at}${SHA256_SUFFIX}`, `${at}${PG_MANIFEST_SUFFIX}`];
}

/** WAL names (a sidecar stands for its file: one left alone by a crash is removed with its segment). */
function walOf(names: string[], segmentBytes: number): RetentionWal[] {
  const stored = new Set(names.map((n) => (n.endsWith(SHA256_SUFFIX) ? n.slice(0, -SHA256_SUFFIX.length) : n)));
  return [...stored].flatMap((n) => {
    const parsed = parseArchivedWal(n, segmentBytes);
    return parsed ? [{ stored: n, kind: parsed.kind, segno: parsed.segno }] : [];
  });
}

/** BACKUP_DIR (`root`) as a place. */
export function localPlace(root: string): Place {
  return {
    location: 'local',
    servers: async () => (await fs.readdir(path.join(root, 'base')).catch(() => [] as string[])).filter((s) => /^\d+$/.test(s)),
    async list(sysid) {
      const backups = await readBaseManifests(path.join(root, baseDir(sysid)));
      const names = await fs.readdir(path.join(root, walDir(sysid))).catch(() => [] as string[]);
      return { backups, wal: backups.length === 0 ? [] : walOf(names, backups[0]!.wal_segment_bytes) };
    },
    remove: (relative) => fs.rm(path.join(root, relative), { force: true }),
  };
}

/** S3 under S3_PREFIX as a place. */
export function s3Place(client: S3Client, s3: S3Config): Place {
  const keys = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    for await (const page of paginateListObjectsV2({ client }, { Bucket: s3.bucket, Prefix: s3Key(s3, prefix) })) {
      for (const o of page.Contents ?? []) out.push((o.Key ?? '').slice(s3Key(s3, prefix).length));
    }
    return out;
  };
  return {
    location: 's3',
    servers: async () => [...new Set((await keys('base/')).map((k) => k.split('/')[0]!).filter((s) => /^\d+$/.test(s)))],
    async list(sysid) {
      const names = await keys(`${baseDir(sysid)}/`);
      const backups: BaseBackupManifest[] = [];
      for (const name of names) {
        if (parseBaseBackupName(name) === undefined || !names.includes(`${name}${BASE_MANIFEST_SUFFIX}`)) continue;
        const key = s3Key(s3, `${baseDir(sysid)}/${name}${BASE_MANIFEST_SUFFIX}`);
        const text = await (await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: key }))).Body?.transformToString();
        try {
          backups.push(parseBaseManifest(text ?? '', `s3://${s3.bucket}/${key}`));
        } catch {
          // A broken manifest: its backup is not restorable from here, and retention leaves it alone.
        }
      }
      return { backups, wal: backups.length === 0 ? [] : walOf(await keys(`${walDir(sysid)}/`), backups[0]!.wal_segment_bytes) };
    },
    remove: async (relative) => {
      await client.send(new DeleteObjectCommand({ Bucket: s3.bucket, Key: s3Key(s3, relative) }));
    },
  };
}

/** The running activity's context; undefined when called outside an activity (a test, a script). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}
