// A partial restore's copy of the backup, loaded where VERIFY_TARGET says scratch databases go: the
// worker's own server (or the user's), so the live server needs no CREATEDB and carries no restore.
import path from 'node:path';
import type { CreatedRole } from '../../backup/createdRoles';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { ident } from '../../partial/catalog';
import { createScratch } from '../backup/verify';
import { restoreFileInto } from '../restoreFile';
import { openScratchServer } from '../verifyServer/target';
import { checkDatabase, dropDatabase, restoreIntoNewDatabase, type TableCheck } from './databases';
import type { PreparedRestore } from './prepare';

/** Where a partial restore's scratch copy is: `verify`, the scratch server of VERIFY_TARGET; `source`, beside the live database. */
export type ScratchPlace = 'verify' | 'source';

/** What loading the scratch copy did. */
export interface LoadedScratch {
  check: TableCheck;
  roles_created: string[];
  roles: CreatedRole[];
  scratch_server: ScratchPlace;
}

/**
 * Loads the backup into the scratch database `target` on the scratch server and checks it against
 * the dump-time counts (RestoreVerificationFailed, copy dropped, when it differs). On the source
 * (VERIFY_TARGET=source, or the fallback) it is restoreIntoNewDatabase as before.
 */
export async function loadScratchCopy(config: Config, prepared: PreparedRestore, target: string): Promise<LoadedScratch> {
  const server = await openScratchServer(config, { filename: prepared.filename, extensions: prepared.extensions, roles: prepared.roles_needed });
  try {
    if (server.where === 'source') return { ...(await restoreIntoNewDatabase(config, prepared, target)), scratch_server: 'source' };
    const on = server.config;
    await dropDatabase(on, target);
    await createScratch(on, ident(target));
    try {
      const file = { filename: prepared.filename, file: path.join(config.backup.dir, prepared.filename), format: prepared.format, sha256: prepared.sha256 };
      await restoreFileInto(on, target, file, { step: 'restore', failureType: ErrorType.RestoreFailed, target: 'scratch' });
      const result = await checkDatabase(on, target, prepared.table_details, prepared.extensions);
      if (!result.ok) {
        const bad = Object.entries(result.tables).filter(([, c]) => c.expected !== c.actual).map(([t, c]) => `${t} (expected ${c.expected}, restored ${c.actual})`);
        throw permanent(ErrorType.RestoreVerificationFailed, `the copy of "${prepared.filename}" loaded on ${server.label} does not match its manifest: ${[...bad, ...result.missing_extensions.map((e) => `extension ${e} missing`)].join(', ')}; the live database was not touched`, undefined, result);
      }
      return { check: result, roles_created: [], roles: [], scratch_server: 'verify' };
    } catch (err) {
      await dropDatabase(on, target).catch(() => undefined);
      throw err;
    }
  } finally {
    server.release();
  }
}

/** Drops a partial restore's scratch copy where it is. */
export async function dropScratchCopy(config: Config, name: string, place: ScratchPlace): Promise<void> {
  if (place === 'source') return dropDatabase(config, name);
  const server = await openScratchServer(config, { filename: name, extensions: [], roles: [] });
  try {
    await dropDatabase(server.config, name);
  } finally {
    server.release();
  }
}
