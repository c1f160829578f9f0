// The soak's stand-in for base-backup retention: RETENTION_BASEBACKUP_DAYS counts days, a soak runs for
// hours, and every base backup with its WAL would fill the 256 MB tmpfs within a few hundred cycles. After
// each periodic base backup it keeps the newest KEEP (with their parents) and, in every host's directory,
// removes older base backups and the completed WAL segments before the oldest kept one's start. Only
// the low end goes; S3 keeps its copies. Per host, a later copy down from S3 (a base backup's verification,
// a restore to a moment) may bring old segments back onto one host, so the hosts' union can show a hole
// between those and the rest: the archive check counts S3 in that mode (pitr.ts, checkArchive).
import fs from 'node:fs';
import path from 'node:path';
import { readBaseManifests } from '../../src/activities/basebackup/facts';
import { parseArchivedWal, segnoOfLsn } from '../../src/basebackup/naming';
import type { BaseBackupManifest } from '../../src/basebackup/manifest';
import type { Rig } from './rig';

/** Base backups kept by the trim. */
const KEEP = 2;

/** Removes what retention would have removed by now; the number of files removed. */
export async function trimArchive(rig: Rig): Promise<number> {
  const found: { dir: string; m: BaseBackupManifest }[] = [];
  for (const host of rig.hostDirs) {
    const base = path.join(host, 'base');
    for (const sysid of fs.existsSync(base) ? fs.readdirSync(base) : []) {
      for (const m of await readBaseManifests(path.join(base, sysid))) found.push({ dir: path.join(base, sysid), m });
    }
  }
  const byName = new Map(found.map((f) => [f.m.filename, f.m]));
  const kept = new Set<string>();
  for (const { m } of [...found].sort((a, b) => b.m.end_time.localeCompare(a.m.end_time)).slice(0, KEEP)) {
    for (let at: BaseBackupManifest | undefined = m; at !== undefined && !kept.has(at.filename); at = at.parent === null ? undefined : byName.get(at.parent)) kept.add(at.filename);
  }
  const keptBackups = found.filter((f) => kept.has(f.m.filename));
  if (keptBackups.length === 0) return 0;
  let removed = 0;
  const remove = (file: string) => {
    fs.rmSync(file, { force: true });
    removed += 1;
  };
  for (const { dir, m } of found) {
    if (!kept.has(m.filename)) for (const f of fs.readdirSync(dir).filter((f) => f.startsWith(m.filename))) remove(path.join(dir, f));
  }
  const sysid = keptBackups[0]!.m.system_identifier;
  const segmentBytes = keptBackups[0]!.m.wal_segment_bytes;
  const from = keptBackups.map((f) => segnoOfLsn(f.m.start_lsn, segmentBytes)).reduce((a, b) => (a < b ? a : b));
  for (const host of rig.hostDirs) {
    const wal = path.join(host, 'wal', sysid);
    for (const f of fs.existsSync(wal) ? fs.readdirSync(wal) : []) {
      const parsed = parseArchivedWal(f.replace(/\.sha256$/, ''), segmentBytes);
      if (parsed?.kind === 'segment' && parsed.segno < from) remove(path.join(wal, f));
    }
  }
  return removed;
}
