import type { DatabaseConfig } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { withClient } from '../db';

const SERVER_HINT =
  'install pgvector on the database server (Debian: sudo bash scripts/install-deps.sh; Docker: the pgvector/pgvector:pg<major> image); ' +
  'restoring a backup with embeddings fails on a server without it';

/** pgvector must be available on the server (for restores) and is expected in the database (for the app). */
export async function checkPgvector(db: DatabaseConfig): Promise<CheckResult[]> {
  try {
    return await withClient(db, async (client) => {
      const available = await client.query<{ default_version: string }>("SELECT default_version FROM pg_available_extensions WHERE name = 'vector'");
      const installed = await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'vector'");
      const server = available.rows[0]
        ? check('pgvector_server', 'ok', `pgvector ${available.rows[0].default_version} is available on the server`)
        : check('pgvector_server', 'fail', 'pgvector is not available on the server (no "vector" in pg_available_extensions)', SERVER_HINT);
      const database = installed.rows[0]
        ? check('pgvector_database', 'ok', `extension vector ${installed.rows[0].extversion} is installed in "${db.database}"`)
        : check(
            'pgvector_database',
            'warn',
            `extension vector is not installed in "${db.database}"`,
            `the app stores embeddings with pgvector: run CREATE EXTENSION vector; in "${db.database}" if this is the Family Second Brain database`,
          );
      return [server, database];
    });
  } catch (err) {
    // The database check reports the connection problem; one failure, not three.
    const detail = `not checked: cannot connect to the database (${(err as Error).message})`;
    return [check('pgvector_server', 'skip', detail), check('pgvector_database', 'skip', detail)];
  }
}
