// The Temporal SDK as installed: one pinned version of every package, and one protobufjs.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const pkg = (name: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string };

describe('the Temporal SDK as installed', () => {
  it('every @temporalio package is the one pinned version', () => {
    const ours = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const pinned = Object.entries(ours.dependencies).filter(([name]) => name.startsWith('@temporalio/'));
    expect(pinned.length).toBeGreaterThan(0);
    for (const [name, range] of pinned) {
      expect(range, `${name} must be pinned to an exact version`).toMatch(/^\d+\.\d+\.\d+$/);
      expect(pkg(name).version, `${name} installed`).toBe(range);
    }
    for (const transitive of ['@temporalio/proto', '@temporalio/core-bridge', '@temporalio/common']) {
      expect(pkg(transitive).version, transitive).toBe(pinned[0]?.[1]);
    }
  });

  it('one protobufjs serves the SDK (else replay fails with "type must be a Type")', () => {
    expect(pkg('protobufjs').version).toBe('8.8.1');
    expect(fs.existsSync(path.join(__dirname, '..', 'node_modules', '@temporalio', 'proto', 'node_modules', 'protobufjs'))).toBe(false);
  });
});
