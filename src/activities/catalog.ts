import { mergeCatalog, type AsideDatabase, type Catalog, type CatalogLeftover, type Listed } from '../backup/catalog';
import { parseAsideDatabaseName, timestampToDate } from '../backup/naming';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import { openStores } from '../storage/stores';
import { withClient } from './db';
import { findLeftovers } from './doctor/leftovers';
import { restorableState } from './basebackup/plan';
import { describeFailed, failedSummary, type FailedSummary } from './basebackup/failed';
import { DEFAULT_BASEBACKUP_RETENTION_DAYS } from '../basebackup/retention';

/** Lists local backups and, with `includeS3`, S3 backups, merged by name; and databases renamed aside by restores. */
export async function listCatalog(config: Config, includeS3: boolean): Promise<Catalog> {
  if (includeS3 && config.s3 === undefined) {
    throw permanent(ErrorType.S3NotConfigured, 'include_s3 was asked for, but S3_BUCKET is not set; set it or list without include_s3');
  }
  const stores = openStores(config);
  const warnings: string[] = [];
  try {
    const listed: Listed[] = (await stores.local.list()).map((b) => ({ ...b, location: 'local' as const }));
    if (includeS3 && stores.s3) listed.push(...(await stores.s3.list()).map((b) => ({ ...b, location: 's3' as const })));
    const aside = await asideDatabases(config).catch((err: unknown) => {
      warnings.push(`databases renamed aside by restores were not listed: ${(err as Error).message}`);
      return [];
    });
    const leftovers = await catalogLeftovers(config, warnings).catch((err: unknown) => {
      warnings.push(`leftovers of earlier runs were not looked for: ${(err as Error).message}`);
      return [];
    });
    const restorable = await restorableState(config).then(
      ({ usable, window }) => (window === null ? null : { ...window, base_backups: usable.length }),
      (err: unknown) => {
        warnings.push(`the restorable window was not worked out: ${(err as Error).message}`);
        return null;
      },
    );
    const failed = await failedSummary(config).catch((err: unknown) => {
      warnings.push(`base backups that failed verification were not looked for: ${(err as Error).message}`);
      return null;
    });
    return {
      backups: mergeCatalog(listed, config.backup.timezone),
      aside_databases: aside,
      leftovers,
      warnings,
      ...(restorable === null ? {} : { restorable_window: restorable }),
      ...(failed === null ? {} : { failed_base_backups: { ...failed, ...failedNote(config, failed) } }),
    };
  } finally {
    stores.close();
  }
}

/** Databases renamed aside from the live one by restores, newest first. */
export async function asideDatabases(config: Config): Promise<AsideDatabase[]> {
  const live = config.database.database;
  const { rows } = await withClient(
    config.database,
    (c) => c.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY datname DESC'),
    config.database.maintenanceDatabase,
  );
  return rows.flatMap(({ datname }) => {
    const stamp = parseAsideDatabaseName(live, datname);
    return stamp ? [{ name: datname, created_at: timestampToDate(stamp, config.backup.timezone).toISOString() }] : [];
  });
}

const LEFTOVER_NOTES: Record<CatalogLeftover['kind'], string> = {
  partial_file: 'a dump that did not finish; the next backup removes it',
  scratch_database: 'a verification that did not finish; the next backup removes it',
  restoring_database: 'a restore that did not finish; the next backup or restore removes it',
  closed_database: 'refuses every connection (left by a restore killed during its swap); fbb doctor says how to open it',
  scratch_cluster: 'the scratch cluster of a restore to a moment that did not finish (stopped or running); the next backup or restore of this database stops and removes it',
  drill_directory: 'the S3 copy a restore drill fetched and was killed before it removed; the next backup, restore or drill on this host removes it',
  failed_restore_database: 'a restored copy that did not verify, kept by the rollback for inspection; drop it by hand when done (DROP DATABASE)',
};

/** What fbb doctor reports as leftovers, and the databases rollbacks kept; while a run holds the lock, a warning instead. */
async function catalogLeftovers(config: Config, warnings: string[]): Promise<CatalogLeftover[]> {
  const { running, leftovers } = await findLeftovers(config);
  if (running) warnings.push(`leftovers of earlier runs were not looked for: the ${running} is running and may be using its files and databases`);
  const failed = await withClient(
    config.database,
    (c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE starts_with(datname, $1) ORDER BY datname DESC', [`${config.database.database}_failed_restore_`]),
    config.database.maintenanceDatabase,
  );
  return [
    ...leftovers.map((l) => ({ kind: l.kind, name: l.name, note: LEFTOVER_NOTES[l.kind] })),
    ...failed.rows.filter((r) => !leftovers.some((l) => l.name === r.datname)).map((r) => ({ kind: 'failed_restore_database' as const, name: r.datname, note: LEFTOVER_NOTES.failed_restore_database })),
  ];
}

/** What `fbb list` says about the failed base backups (detail, and the next step as `next`). */
function failedNote(config: Config, failed: FailedSummary): { detail: string; next: string } {
  const { detail, hint } = describeFailed(failed, config.basebackup?.retentionDays ?? DEFAULT_BASEBACKUP_RETENTION_DAYS);
  return { detail, next: hint };
}
