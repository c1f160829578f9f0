/** A setting that parsed but cannot be used on this machine (a port in use, say); the worker exits 2 for it, as for a bad setting. */
export class SettingUnusableError extends Error {
  override readonly name = 'SettingUnusableError';
  constructor(
    readonly variable: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
