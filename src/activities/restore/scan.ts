import { Writable } from 'node:stream';
import { DUMP_COMPLETE_LINE } from '../../backup/plausibility';
import { tableKey } from '../backup/inventory';

/** What a plain SQL dump needs from the server it is restored into. */
export interface DumpNeeds {
  extensions: Set<string>;
  roles: Set<string>;
}

const EXTENSION = /^CREATE EXTENSION (?:IF NOT EXISTS )?("(?:[^"]|"")+"|[\w$]+)/;
const OWNER = /^ALTER .* OWNER TO ("(?:[^"]|"")+"|[\w$]+);$/;
const GRANT = /^(?:GRANT|REVOKE) .* (?:TO|FROM) (.+?)(?: WITH GRANT OPTION)?;$/;
const DEFAULT_PRIVS = /^ALTER DEFAULT PRIVILEGES FOR ROLE ("(?:[^"]|"")+"|[\w$]+)/;
const COPY = /^COPY ("(?:[^"]|"")+"|[^\s."]+)\.("(?:[^"]|"")+"|[^\s."]+) /;

function unquote(identifier: string): string {
  return identifier.startsWith('"') ? identifier.slice(1, -1).replace(/""/g, '"') : identifier;
}

/**
 * A sink for a plain SQL dump (the gunzipped bytes) that collects the extensions it creates
 * and the roles it names (owners, grantees), counts each table's COPY rows (one line per row in
 * COPY's text format) and notes pg_dump's closing line. Used for Windmill-era files, whose needs
 * and counts no manifest records. `onProgress` hears the bytes read so far (for heartbeats).
 */
export class DumpScanner extends Writable {
  readonly needs: DumpNeeds = { extensions: new Set(), roles: new Set() };
  /** Rows per table (table_details keys), from the COPY blocks. */
  readonly tables: Record<string, number> = {};
  /** Whether the dump ended with pg_dump's closing line (a plain dump without it was cut off). */
  complete = false;
  private rest = '';
  private inCopy: string | null = null;
  private bytes = 0;

  constructor(private readonly onProgress: (bytes: number) => void = () => undefined) {
    super();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const lines = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = lines.pop() ?? '';
    for (const line of lines) this.line(line);
    this.bytes += chunk.length;
    this.onProgress(this.bytes);
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.line(this.rest);
    callback();
  }

  private line(line: string): void {
    if (this.inCopy !== null) {
      if (line === '\\.') this.inCopy = null;
      else this.tables[this.inCopy]!++;
      return;
    }
    if (line.startsWith('COPY ') && line.endsWith(' FROM stdin;')) {
      const name = COPY.exec(line);
      this.inCopy = name?.[1] && name[2] ? tableKey(unquote(name[1]), unquote(name[2])) : line;
      this.tables[this.inCopy] ??= 0;
      return;
    }
    // The closing line counts when only comment dashes and pg_dump's \unrestrict follow it.
    if (line === DUMP_COMPLETE_LINE) this.complete = true;
    else if (line !== '' && line !== '--' && !line.startsWith('\\unrestrict ')) this.complete = false;
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
