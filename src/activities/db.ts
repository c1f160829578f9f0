import pg from 'pg';
import type { DatabaseConfig } from '../config';

/** Opens a pg client to `database` (default: the configured one); the caller ends it. */
export async function connect(db: DatabaseConfig, database: string = db.database, timeoutMs = 10_000): Promise<pg.Client> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database,
    connectionTimeoutMillis: timeoutMs,
    application_name: 'family-brain-backup',
    ...(db.sslmode === undefined || db.sslmode === 'disable' ? {} : { ssl: { rejectUnauthorized: db.sslmode === 'verify-full' || db.sslmode === 'verify-ca' } }),
  });
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** Runs `fn` with a connected client and always closes it. */
export async function withClient<T>(db: DatabaseConfig, fn: (client: pg.Client) => Promise<T>, database?: string): Promise<T> {
  const client = await connect(db, database);
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
