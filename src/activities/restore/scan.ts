import { Writable } from 'node:stream';

/** What a plain SQL dump needs from the server it is restored into. */
export interface DumpNeeds {
  extensions: Set<string>;
  roles: Set<string>;
}

const EXTENSION = /^CREATE EXTENSION (?:IF NOT EXISTS )?("(?:[^"]|"")+"|[\w$]+)/;
const OWNER = /^ALTER .* OWNER TO ("(?:[^"]|"")+"|[\w$]+);$/;
const GRANT = /^(?:GRANT|REVOKE) .* (?:TO|FROM) (.+?)(?: WITH GRANT OPTION)?;$/;
const DEFAULT_PRIVS = /^ALTER DEFAULT PRIVILEGES FOR ROLE ("(?:[^"]|"")+"|[\w$]+)/;

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/**
 * A sink for a plain SQL dump (the gunzipped bytes) that collects the extensions it creates
 * and the roles it names (owners, grantees), skipping COPY data. Used for Windmill-era files,
 * whose needs no manifest records.
 */
export class DumpScanner extends Writable {
  readonly needs: DumpNeeds = { extensions: new Set(), roles: new Set() };
  private rest = '';
  private inCopy = false;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const lines = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) this.line(line);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.line(this.rest);
    callback();
  }

  private line(line: string): void {
    if (this.inCopy) {
      if (line === '\\.') this.inCopy = false;
      return;
    }
    if (line.startsWith('COPY ') && line.endsWith(' FROM stdin;')) {
      this.inCopy = true;
      return;
    }
    const ext = EXTENSION.exec(line);
    if (ext?.[1]) this.needs.extensions.add(unquote(ext[1]));
    const owner = OWNER.exec(line) ?? DEFAULT_PRIVS.exec(line);
    if (owner?.[1]) this.needs.roles.add(unquote(owner[1]));
    const grant = GRANT.exec(line);
    if (grant?.[1]) {
      for (const name of grant[1].split(',').map((s) => s.trim())) {
        if (name !== '' && name.toUpperCase() !== 'PUBLIC') this.needs.roles.add(unquote(name));
      }
    }
  }
}
