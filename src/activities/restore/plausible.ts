// The plausibility check of a restore, against the live database: the I/O around src/backup/plausibility.ts.
import type { BackupManifest } from '../../backup/manifest';
import { aboutBackup, judgeBackup, otherDatabase, type BackupAbout, type BackupFacts, type Finding } from '../../backup/plausibility';
import type { Config } from '../../config';
import { permanent } from '../../errors';
import { countRows } from '../backup/inventory';
import { connect } from '../db';
import { databaseUnreachable } from '../failures';

/** What the user said about doubts: go on anyway, the backup's source database, and whether the restore was confirmed in advance. */
export interface PlausibilityOptions {
  /** true: a doubtful backup is restored, but only after a confirmation that shows the doubts. */
  force: boolean;
  /** The database a backup of another database was made of, named by the user. */
  from_database: string | null;
  /** true: nobody will see a confirmation (confirm_restore: true), so doubts cannot be shown before the change. */
  confirmed_in_advance: boolean;
}

/** The facts a manifest records about its backup. */
export function manifestFacts(manifest: BackupManifest): BackupFacts {
  return { filename: manifest.filename, database: manifest.database ?? null, created_at: manifest.created_at, size_bytes: manifest.size_bytes, tables: manifest.table_details, complete: true };
}

/**
 * Refuses, changing nothing, a backup of another database the user did not name (when it would
 * replace tables: onto a new server, or into an empty database, it is what disaster recovery does), and (unless
 * forced, and then only if a confirmation will show them) a backup that is empty, cut off, shares
 * no table with the live database or holds a small fraction of its rows. Returns what a confirmation shows.
 */
export async function checkPlausible(config: Config, backup: BackupFacts, targetExists: boolean, options: PlausibilityOptions): Promise<BackupAbout> {
  const live = config.database.database;
  const counts = targetExists ? await liveCounts(config) : null;
  const replacing = counts !== null && Object.keys(counts).length > 0;
  const other = otherDatabase(backup, replacing ? live : (backup.database ?? live), options.from_database);
  if (other !== undefined) throw permanent(other.type, `${other.message}; nothing was changed`);
  const liveFacts = counts === null ? null : { database: live, tables: counts };
  const findings = judgeBackup(backup, liveFacts);
  const named = backup.database === null || backup.database === live ? [] : [`the backup is of database ${backup.database}${replacing ? ' (named with from_database)' : ''}, not of ${live}`];
  if (findings.length > 0 && !options.force) {
    throw refusal(findings, 'if you are sure, restore it with --force (input "force": true): the restore then waits for a confirmation that shows this');
  }
  if (findings.length > 0 && options.confirmed_in_advance) {
    throw refusal(findings, '--force (force: true) restores it only after a confirmation that shows this: run it without --yes (confirm_restore: false) and confirm when asked');
  }
  return aboutBackup(backup, liveFacts, [...named, ...findings.map((f) => `${f.type}: ${f.message}`)]);
}

/** Every table's exact row count in the live database. */
async function liveCounts(config: Config): Promise<Record<string, number>> {
  const client = await connect(config.database, config.database.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    return await countRows(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function refusal(findings: Finding[], next: string) {
  const [first, ...rest] = findings as [Finding, ...Finding[]];
  const also = rest.length > 0 ? `; also: ${rest.map((f) => `${f.type}: ${f.message}`).join('; ')}` : '';
  return permanent(first.type, `${first.message}${also}; nothing was changed; ${next}`, undefined, { findings });
}
