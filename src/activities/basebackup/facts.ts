// What a base backup needs to know about the server, and the base backups already in a directory.
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseBaseManifest, type BaseBackupManifest } from '../../basebackup/manifest';
import { BASE_MANIFEST_SUFFIX, parseBaseBackupName } from '../../basebackup/naming';
import type { Config } from '../../config';
import { withClient } from '../db';
import { databaseUnreachable } from '../failures';

/** The server a base backup is taken from. */
export interface ServerFacts {
  system_identifier: string;
  major: number;
  server_version: string;
  wal_segment_bytes: number;
  /** summarize_wal=on (17+): incremental base backups are possible. */
  summarize_wal: boolean;
}

/** Reads the server's identity and settings; DatabaseUnreachable when it cannot. */
export async function serverFacts(config: Config): Promise<ServerFacts> {
  return withClient(
    config.database,
    async (c) => {
      const { rows } = await c.query<{ sysid: string; num: string; version: string; seg: string; summarize: string | null }>(
        `SELECT (SELECT system_identifier::text FROM pg_control_system()) AS sysid, current_setting('server_version_num') AS num,
                current_setting('server_version') AS version, (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS seg,
                (SELECT setting FROM pg_settings WHERE name = 'summarize_wal') AS summarize`,
      );
      const r = rows[0]!;
      return { system_identifier: r.sysid, major: Math.floor(Number(r.num) / 10000), server_version: r.version, wal_segment_bytes: Number(r.seg), summarize_wal: r.summarize === 'on' };
    },
    config.database.maintenanceDatabase,
  ).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
}

/** The readable manifests of the base backups in `dir` whose file is there; none when the directory does not exist. */
export async function readBaseManifests(dir: string): Promise<BaseBackupManifest[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: BaseBackupManifest[] = [];
  for (const file of names) {
    if (parseBaseBackupName(file) === undefined || !names.includes(`${file}${BASE_MANIFEST_SUFFIX}`)) continue;
    const text = await fs.readFile(path.join(dir, `${file}${BASE_MANIFEST_SUFFIX}`), 'utf8').catch(() => undefined);
    if (text === undefined) continue;
    try {
      out.push(parseBaseManifest(text, path.join(dir, `${file}${BASE_MANIFEST_SUFFIX}`)));
    } catch {
      // A broken manifest makes its backup unusable; list shows the rest.
    }
  }
  return out;
}
