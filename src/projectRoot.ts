import fs from 'node:fs';
import path from 'node:path';

/** The project's checkout: the folder with package.json above this file (src/ or dist/src/). */
export function projectRoot(): string {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json')) && path.dirname(dir) !== dir) dir = path.dirname(dir);
  return dir;
}
