// The workflow bundler as a determinism check: workflow code that imports I/O is refused by name.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { bundleWorkflows, WorkflowBundleError } from '../src/workflowBundle';

describe('bundling the workflows', () => {
  it('rejects a workflow that imports a Node built-in', async () => {
    const err = await bundleWorkflows(path.join(__dirname, 'fixtures/bad-workflows/index.ts')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowBundleError);
    expect((err as Error).message).toMatch(/node:fs/);
  });
});
