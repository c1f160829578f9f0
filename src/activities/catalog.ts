import { mergeCatalog, type AsideDatabase, type Catalog, type Listed } from '../backup/catalog';
import { parseAsideDatabaseName, timestampToDate } from '../backup/naming';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import { openStores } from '../storage/stores';
import { withClient } from './db';

// activities/backup/index.ts still names the type here (until its own edit lands).
export type { Catalog } from '../backup/catalog';

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
    return { backups: mergeCatalog(listed, config.backup.timezone), aside_databases: aside, warnings };
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
