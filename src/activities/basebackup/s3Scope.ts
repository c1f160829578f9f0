// What a restore to a moment from S3 copies down: the base backup chain the restore will start from
// and its WAL run, chosen by the same rules as the plan (basebackup/window.ts) over what S3 lists,
// instead of every base backup and WAL file the bucket holds. A worker with a BACKUP_DIR per host
// copied the whole archive on every such restore and never pruned the copies: the soak (seed 1717,
// per host) filled its BACKUP_DIR with them after 90 cycles, and a base backup then failed BackupDirFull.
import type { BaseBackupManifest } from '../../basebackup/manifest';
import { parseArchivedWal } from '../../basebackup/naming';
import { parseRecoveryTarget } from '../../basebackup/recoveryTime';
import { pickBackup, usableBackups, type ListedWal } from '../../basebackup/window';
import { checksumName } from '../../wal/layout';

/** An object S3 lists under the layout (its key relative to S3_PREFIX). */
export interface ListedObject {
  rel: string;
  size: number;
  when: Date;
}

/**
 * The relative keys to copy for a restore to `toTime` (base/<sysid>/<chain file>* and wal/<sysid>/<run
 * file>[.sha256]), or undefined when no base backup S3 holds reaches it: then everything is copied,
 * and the plan says why the moment cannot be restored, with the window, as it does for BACKUP_DIR.
 */
export function objectsForMoment(toTime: string, manifests: BaseBackupManifest[], objects: ListedObject[]): Set<string> | undefined {
  let target;
  try {
    target = parseRecoveryTarget(toTime);
  } catch {
    return undefined;
  }
  const candidates = [];
  for (const sysid of new Set(manifests.map((m) => m.system_identifier))) {
    const mine = manifests.filter((m) => m.system_identifier === sysid);
    const wal: ListedWal[] = [];
    for (const o of objects) {
      if (!o.rel.startsWith(`wal/${sysid}/`)) continue;
      const parsed = parseArchivedWal(o.rel.slice(`wal/${sysid}/`.length), mine[0]!.wal_segment_bytes);
      if (parsed !== undefined) wal.push({ ...parsed, modified_at: o.when.toISOString(), size_bytes: o.size });
    }
    candidates.push(...usableBackups(mine, wal));
  }
  candidates.sort((a, b) => b.chain[b.chain.length - 1]!.end_time.localeCompare(a.chain[a.chain.length - 1]!.end_time));
  const chosen = pickBackup(candidates, target.kind === 'time' ? target.at : undefined);
  if (chosen === undefined) return undefined;
  const sysid = chosen.chain[0]!.system_identifier;
  const keys = new Set<string>();
  for (const o of objects) {
    if (chosen.chain.some((b) => o.rel.startsWith(`base/${sysid}/${b.filename}`))) keys.add(o.rel);
  }
  for (const w of chosen.wal) for (const name of [w.stored, checksumName(w.stored)]) keys.add(`wal/${sysid}/${name}`);
  return keys;
}
