import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure, WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalRuntime } from '../src/local';
import { bundleWorkflows, WorkflowBundleError } from '../src/workflowBundle';
import * as activities from './fixtures/workflows/activities';
import { approval, approve, cancellable, greeting, inspectFailure, rejecting, retrying, sleeper, state, whoAmI } from './fixtures/workflows';

const workflowsPath = path.join(__dirname, 'fixtures/workflows/index.ts');
let runtime: LocalRuntime;
let n = 0;
const id = (name: string) => `${name}-${++n}`;

beforeAll(async () => {
  runtime = await LocalRuntime.create({ activities, workflowsPath });
});
afterAll(async () => {
  await runtime?.shutdown();
});
beforeEach(() => {
  activities.calls.length = 0;
  activities.resetFlaky();
});

describe('the local runner', () => {
  it('runs a workflow whose activity result reaches it', async () => {
    await expect(runtime.execute(greeting, { args: ['Ada'], workflowId: id('greet') })).resolves.toBe('Hello, Ada!');
    expect(activities.calls).toEqual(['greet:Ada']);
  });

  it('gives the workflow the ID it was started with', async () => {
    await expect(runtime.execute(whoAmI, { args: [], workflowId: 'who-am-i-7' })).resolves.toBe('who-am-i-7');
  });

  it('retries a retryable activity failure per the retry policy, without sleeping through the backoff', async () => {
    const handle = await runtime.start(retrying, { args: [2], workflowId: id('retry') });
    await expect(handle.result()).resolves.toBe(3);
    expect(handle.execution.attempts.map((a) => a.outcome)).toEqual(['failed', 'failed', 'completed']);
  });

  it('gives up after maximumAttempts and fails the workflow with the activity failure', async () => {
    const handle = await runtime.start(retrying, { args: [5], workflowId: id('retry-exhausted') });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const activityFailure = (err as WorkflowFailedError).cause;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    expect((activityFailure as ActivityFailure).retryState).toBe('MAXIMUM_ATTEMPTS_REACHED');
    expect((activityFailure as ActivityFailure).cause?.message).toBe('transient failure 3');
    expect(handle.execution.attempts).toHaveLength(3);
  });

  it('does not retry a non-retryable failure, and the workflow sees its type', async () => {
    const handle = await runtime.start(inspectFailure, { args: ['x y'], workflowId: id('nonretryable') });
    await expect(handle.result()).resolves.toEqual({
      activityFailure: true,
      causeType: 'BadInput',
      nonRetryable: true,
      retryState: 'NON_RETRYABLE_FAILURE',
    });
    expect(activities.calls).toEqual(['reject:x y']);
  });

  it('does not retry an error type listed in nonRetryableErrorTypes', async () => {
    const handle = await runtime.start(inspectFailure, { args: ['root'], workflowId: id('nonretryable-type') });
    await expect(handle.result()).resolves.toMatchObject({ causeType: 'ForbiddenName', nonRetryable: false, retryState: 'NON_RETRYABLE_FAILURE' });
    expect(activities.calls).toEqual(['reject:root']);
  });

  it('reports a failed workflow with the typed ApplicationFailure as cause of the activity failure', async () => {
    const err = await runtime.execute(rejecting, { args: ['??'], workflowId: id('reject') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = ((err as WorkflowFailedError).cause as ActivityFailure).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe('BadInput');
    expect(cause?.message).toBe('name "??" is malformed');
  });

  it('delivers a signal and answers queries before and after it', async () => {
    const handle = await runtime.start(approval, { args: [], workflowId: id('approval') });
    await handle.settled();
    await expect(handle.query(state)).resolves.toEqual({ phase: 'waiting', approvedBy: null });
    await handle.signal(approve, 'grace');
    const result = await handle.result();
    expect(result).toMatchObject({ outcome: 'approved', approvedBy: 'grace' });
    await expect(handle.query(state)).resolves.toEqual({ phase: 'approved', approvedBy: 'grace' });
  });

  it('fires a one-day deadline on the virtual clock without real waiting', async () => {
    const started = Date.now();
    const result = await runtime.execute(approval, { args: [], workflowId: id('expiry') });
    expect(result.outcome).toBe('expired');
    expect(result.waitedMs).toBeGreaterThanOrEqual(24 * 3600 * 1000);
    expect(Date.now() - started).toBeLessThan(60_000);
  });

  it('lets a seven-day sleep pass in workflow time', async () => {
    await expect(runtime.execute(sleeper, { args: [], workflowId: id('sleep') })).resolves.toBeGreaterThanOrEqual(7 * 24 * 3600 * 1000);
  });

  it('passes workflow cancellation on to a running activity and ends the workflow cancelled', async () => {
    const handle = await runtime.start(cancellable, { args: [], workflowId: id('cancel') });
    await new Promise((r) => setTimeout(r, 100));
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    await handle.settled();
    expect(activities.calls).toContain('activity saw cancellation');
  });

  it('refuses to start a second run with a workflow ID that is still running', async () => {
    const workflowId = id('dup');
    const first = await runtime.start(approval, { args: [], workflowId });
    await expect(runtime.start(approval, { args: [], workflowId })).rejects.toBeInstanceOf(WorkflowExecutionAlreadyStartedError);
    await first.signal(approve, 'x');
    await first.result();
    const again = await runtime.start(greeting, { args: ['again'], workflowId });
    await expect(again.result()).resolves.toBe('Hello, again!');
  });

  it('rejects a workflow that imports a Node built-in when bundling', async () => {
    const err = await bundleWorkflows(path.join(__dirname, 'fixtures/bad-workflows/index.ts')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowBundleError);
    expect((err as Error).message).toMatch(/node:fs/);
  });
});
