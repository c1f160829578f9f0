// The scratch servers other than the source that are up now, for the leftover sweeps: never started for that.
import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../../config';
import { clusterAnswers, clusterPaths } from './cluster';
import { connectionOf } from './server';

/** `config` pointed at each scratch server of VERIFY_TARGET that answers now (the worker's own, per major; or the user's); none for `source`. */
export async function runningScratchServers(config: Config): Promise<Config[]> {
  const verify = config.verify;
  if (verify === undefined || verify.target === 'source') return [];
  if (verify.target === 'server') return [{ ...config, database: { ...verify.server!, database: verify.server!.maintenanceDatabase } }];
  const majors = fs.existsSync(verify.serverDir) ? fs.readdirSync(verify.serverDir).filter((name) => /^pg\d+$/.test(name)) : [];
  const up: Config[] = [];
  for (const name of majors) {
    const paths = clusterPaths(path.join(verify.serverDir, name));
    if (await clusterAnswers(paths)) up.push({ ...config, database: connectionOf(paths) });
  }
  return up;
}
