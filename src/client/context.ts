import type { Config } from '../config';
import type { ConnectTemporal } from './runner';

/** What a CLI command may use: config (parsed on first use), output streams, the exit code and the Temporal connection. */
export interface CommandContext {
  config(): Config;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  notice(line: string): void;
  setExitCode(code: number): void;
  /** True when a person at a terminal can answer `prompt`. */
  interactive: boolean;
  /** Asks the person at the terminal. */
  prompt(question: string): Promise<string>;
  /** Opens the Temporal client (src/client/connection.ts). */
  connect: ConnectTemporal;
}
