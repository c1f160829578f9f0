// Reads the tar stream pg_basebackup writes as it passes through, and keeps the few small members
// the manifest needs (backup_label, backup_manifest), without holding anything else.
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;

/** A pass-through over a tar stream that captures the named top-level members (each at most `maxBytes`). */
export class TarTap extends Transform {
  readonly captured = new Map<string, Buffer>();
  private header = Buffer.alloc(0);
  /** Bytes of the current member's data (with its padding) still to pass. */
  private remaining = 0;
  private capturing: { name: string; size: number; parts: Buffer[]; got: number } | undefined;

  constructor(
    private readonly names: string[],
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - at);
        this.keep(chunk.subarray(at, at + take));
        this.remaining -= take;
        at += take;
        continue;
      }
      const need = BLOCK - this.header.length;
      const take = Math.min(need, chunk.length - at);
      this.header = Buffer.concat([this.header, chunk.subarray(at, at + take)]);
      at += take;
      if (this.header.length === BLOCK) this.startMember(this.header);
    }
    callback(null, chunk);
  }

  private startMember(header: Buffer): void {
    this.header = Buffer.alloc(0);
    if (header.every((b) => b === 0)) return;
    const name = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '').replace(/^\.\//, '');
    const size = parseInt(header.subarray(124, 136).toString('ascii').replace(/\0.*$/s, '').trim() || '0', 8);
    this.remaining = Math.ceil(size / BLOCK) * BLOCK;
    this.capturing = this.names.includes(name) && size <= this.maxBytes ? { name, size, parts: [], got: 0 } : undefined;
    if (this.capturing && size === 0) this.captured.set(name, Buffer.alloc(0));
  }

  private keep(data: Buffer): void {
    const c = this.capturing;
    if (c === undefined || c.got >= c.size) return;
    const part = data.subarray(0, c.size - c.got);
    c.parts.push(Buffer.from(part));
    c.got += part.length;
    if (c.got === c.size) this.captured.set(c.name, Buffer.concat(c.parts));
  }
}
