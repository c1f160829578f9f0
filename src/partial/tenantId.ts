// A tenant id checked against the type of the tenants' key before a tenant restore loads anything.
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import { connect } from '../activities/db';
import { databaseUnreachable } from '../activities/failures';
import { findTable, readCatalog } from './catalog';

/** The tenant a restore is for, as its input names it (null: the worker's TENANT_COLUMN / TENANT_TABLE). */
export interface TenantRef {
  id: string;
  table: string | null;
}

/**
 * Refuses, non-retryably and before anything is loaded, a tenant id that is not a value of the
 * type of the root table's key (`x' OR 1=1 --` for a uuid). A missing root table is left to the
 * plan, which names it.
 */
export async function checkTenantId(config: Config, tenant: TenantRef): Promise<void> {
  const c = await connect(config.database, config.database.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    const root = findTable(await readCatalog(c), tenant.table ?? config.tenants.table);
    const key = root?.key?.length === 1 ? root.key[0]! : undefined;
    const type = root?.columns.find((col) => col.name === key)?.type;
    if (root === undefined || key === undefined || type === undefined) return;
    try {
      await c.query(`SELECT $1::${type}`, [tenant.id]);
    } catch (err) {
      if (!(err as { code?: string }).code?.startsWith('22')) throw err;
      throw permanent(
        ErrorType.InvalidRestoreInput,
        `tenant id ${JSON.stringify(tenant.id)} is not a ${type}, the type of ${root.name}.${key} (the tenants' key): ${(err as Error).message}; nothing was changed; check the id (SELECT ${key} FROM ${root.name})`,
        err,
      );
    }
  } finally {
    await c.end().catch(() => undefined);
  }
}
