// Per-tenant content hashes of a test database, for the tenant restore tests.
import { readCatalog } from '../src/partial/catalog';
import { ownerHashes, STABLE_TEXT } from '../src/partial/hash';
import { tenantScope } from '../src/partial/scope';
import { withAdmin, withServer } from './helpers';

/** Every tenant's rows, per table: "count rows, md5 of the sorted row hashes", keyed "public.users tenant <id>". */
export async function tenantHashes(database: string, column = 'tenant_id', rootTable = 'tenants'): Promise<Record<string, string>> {
  return withAdmin(async (c) => {
    await c.query(STABLE_TEXT);
    const scope = tenantScope(await readCatalog(c), '-', { column, rootTable });
    return ownerHashes(c, scope);
  }, database);
}

/** The entries of `hashes` that belong to `tenant`. */
export function of(hashes: Record<string, string>, tenant: string): Record<string, string> {
  return Object.fromEntries(Object.entries(hashes).filter(([k]) => k.endsWith(` tenant ${tenant}`)));
}

/** The entries of `hashes` that do not belong to `tenant`. */
export function notOf(hashes: Record<string, string>, tenant: string): Record<string, string> {
  return Object.fromEntries(Object.entries(hashes).filter(([k]) => !k.endsWith(` tenant ${tenant}`)));
}


/** tenantHashes of a database on another server (a throwaway cluster of another major). */
export async function tenantHashesOn(server: { host: string; port: number; user: string; password: string }, database: string): Promise<Record<string, string>> {
  return withServer(server, database, async (c) => {
    await c.query(STABLE_TEXT);
    return ownerHashes(c, tenantScope(await readCatalog(c), '-', { column: 'tenant_id', rootTable: 'tenants' }));
  });
}
