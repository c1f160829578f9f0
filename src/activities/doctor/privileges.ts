// What the configured role may do, checked before the first backup fails: dump every table, have
// scratch databases made where VERIFY_TARGET says, and (for the WAL archive) stream WAL.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { withClient } from '../db';
import { pgBinDirForMajor } from '../verifyServer/install';

interface RoleFacts {
  rolsuper: boolean;
  rolcreatedb: boolean;
  read_all: boolean;
  unreadable: string[];
  extensions: string[];
}

const FACTS_SQL = `
SELECT r.rolsuper, r.rolcreatedb,
       COALESCE(pg_has_role(current_user, 'pg_read_all_data', 'MEMBER'), false) AS read_all,
       ARRAY(SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE c.relkind IN ('r', 'p', 'S', 'm') AND n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
               AND NOT (has_schema_privilege(n.oid, 'USAGE') AND has_table_privilege(c.oid, 'SELECT')) ORDER BY 1) AS unreadable,
       ARRAY(SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1) AS extensions
FROM pg_roles r WHERE r.rolname = current_user`;

/** The role's checks: role_dump, verify_target (REPLICATION for the WAL archive is wal_replication_role, doctor/wal.ts); skipped when the database cannot be reached (the database check says why). */
export async function checkPrivileges(config: Config, serverMajor: number | undefined): Promise<CheckResult[]> {
  const user = config.database.user;
  let facts: RoleFacts;
  try {
    facts = await withClient(config.database, async (c) => (await c.query<RoleFacts>(FACTS_SQL)).rows[0]!);
  } catch (err) {
    const detail = `not checked: ${(err as Error).message}`;
    return [check('role_dump', 'skip', detail), check('verify_target', 'skip', detail)];
  }
  const how = facts.rolsuper ? 'a superuser' : facts.read_all ? 'a member of pg_read_all_data' : 'owner or granted SELECT on every table';
  const dump =
    facts.unreadable.length === 0
      ? check('role_dump', 'ok', `${user} can dump every table of "${config.database.database}" (${how})`)
      : check(
          'role_dump',
          'fail',
          `${user} cannot read ${facts.unreadable.length} table(s) or sequence(s) of "${config.database.database}": ${facts.unreadable.slice(0, 5).join(', ')}${facts.unreadable.length > 5 ? ', ...' : ''}; pg_dump would fail`,
          `back up as the database's owner, or GRANT pg_read_all_data TO ${user} (PostgreSQL 14+)`,
        );
  return [dump, await checkVerifyTarget(config, facts, serverMajor)];
}

/** Where backups are restored to verify them, and whether that can work for this database. */
async function checkVerifyTarget(config: Config, facts: RoleFacts, serverMajor: number | undefined): Promise<CheckResult> {
  const verify = config.verify;
  const user = config.database.user;
  if (verify === undefined || verify.target === 'source') {
    if (!facts.rolsuper && !facts.rolcreatedb) {
      return check('verify_target', 'fail', `VERIFY_TARGET=source: backups are restored on the database server, but ${user} may not create databases`, `set VERIFY_TARGET=worker (the default: a server of the worker's own), or ALTER ROLE ${user} CREATEDB`);
    }
    const ext = facts.rolsuper || facts.extensions.length === 0 ? '' : `; restoring ${facts.extensions.join(', ')} there needs the right to create them (trusted extensions, or a superuser)`;
    return check('verify_target', facts.rolsuper || facts.extensions.length === 0 ? 'ok' : 'warn', `VERIFY_TARGET=source: backups are restored into scratch databases on the database server${ext}`, 'set VERIFY_TARGET=worker to verify on a server of the worker\'s own');
  }
  if (verify.target === 'server') {
    const where = `${verify.server!.host}:${verify.server!.port}`;
    try {
      const missing = await withClient(verify.server!, async (c) => {
        const { rows } = await c.query<{ name: string }>('SELECT name FROM pg_available_extensions WHERE name = ANY($1)', [facts.extensions]);
        return facts.extensions.filter((e) => !rows.some((r) => r.name === e));
      });
      if (missing.length > 0) return check('verify_target', 'fail', `the verification server at ${where} lacks ${missing.join(', ')}, which "${config.database.database}" uses`, `install them there, or set VERIFY_FALLBACK=source`);
      return check('verify_target', 'ok', `backups are verified on the server at ${where} (VERIFY_TARGET); nothing but the dump runs on the database server`);
    } catch (err) {
      return check('verify_target', 'fail', `the verification server at ${where} (VERIFY_TARGET) cannot be reached: ${(err as Error).message}`, 'start it, or fix VERIFY_TARGET');
    }
  }
  if (serverMajor === undefined) return check('verify_target', 'skip', 'not checked: the server major is unknown');
  let binDir: string;
  try {
    binDir = pgBinDirForMajor(serverMajor);
  } catch (err) {
    return check('verify_target', 'fail', `VERIFY_TARGET=worker: ${(err as Error).message}`, `install it, or set VERIFY_TARGET=source`);
  }
  const sharedir = (await execa(path.join(binDir, 'pg_config'), ['--sharedir'], { reject: false })).stdout.trim();
  const missing = facts.extensions.filter((e) => !fs.existsSync(path.join(sharedir, 'extension', `${e}.control`)));
  if (missing.length > 0) {
    return check('verify_target', 'fail', `VERIFY_TARGET=worker: the PostgreSQL ${serverMajor} in ${binDir} lacks ${missing.join(', ')}, which "${config.database.database}" uses`, 'install them for it (pgvector: bash scripts/install-deps.sh), or set VERIFY_FALLBACK=source');
  }
  return check('verify_target', 'ok', `backups are verified on the worker's own PostgreSQL ${serverMajor} (${binDir}, data in ${verify.serverDir}); ${user} needs no CREATEDB and the database server only serves the dump`);
}
