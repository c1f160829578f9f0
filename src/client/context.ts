import type { Config } from '../config';

/** What a CLI command may use: config (parsed on first use), output streams and the exit code. */
export interface CommandContext {
  config(): Config;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  notice(line: string): void;
  setExitCode(code: number): void;
}
