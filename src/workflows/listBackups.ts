import type { Catalog } from '../backup/catalog';
import { parseListInput } from '../backup/workflowInputs';
import { catalog } from './proxies';

/** Input of listBackups, as in the Windmill guide: `{"include_s3": true}`. */
export interface ListBackupsInput {
  include_s3?: boolean;
}

/** `fbb list`: the backup catalogue, newest first. */
export async function listBackups(rawInput?: ListBackupsInput): Promise<Catalog> {
  const input = parseListInput(rawInput);
  return await catalog.listCatalog(input.include_s3 === true);
}
