// The local runner drives Temporal's workflow sandbox through internal paths of @temporalio/worker
// (as the SDK's own tests do). An SDK upgrade that moves or changes them fails here, by name.
import fs from 'node:fs';
import path from 'node:path';
import { coresdk } from '@temporalio/proto';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parseWorkflowCode } from '@temporalio/worker/lib/worker';
import { VMWorkflowCreator } from '@temporalio/worker/lib/workflow/vm';
import { describe, expect, it } from 'vitest';

const pkg = (name: string) => JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'node_modules', name, 'package.json'), 'utf8')) as { version: string };

describe('Temporal SDK internals the local runner relies on', () => {
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

  it('exposes VMWorkflowCreator, parseWorkflowCode and MockActivityEnvironment where the runner imports them', () => {
    expect(typeof VMWorkflowCreator.create).toBe('function');
    expect(typeof parseWorkflowCode).toBe('function');
    expect(typeof MockActivityEnvironment).toBe('function');
  });

  it('has the activation jobs and workflow commands the runner sends and handles', () => {
    const job = coresdk.workflow_activation.WorkflowActivationJob.fromObject({ initializeWorkflow: { workflowType: 'x' } });
    expect(job.initializeWorkflow?.workflowType).toBe('x');
    // A field the proto does not know is dropped by fromObject, so a renamed job or command shows up here.
    const jobs = ['initializeWorkflow', 'fireTimer', 'queryWorkflow', 'cancelWorkflow', 'signalWorkflow', 'resolveActivity'];
    const known = (type: { fromObject(o: object): object }, name: string) => (type.fromObject({ [name]: {} }) as Record<string, unknown>)[name] != null;
    expect(jobs.filter((j) => !known(coresdk.workflow_activation.WorkflowActivationJob, j))).toEqual([]);
    const commands = [
      'startTimer', 'scheduleActivity', 'respondToQuery', 'requestCancelActivity', 'cancelTimer',
      'completeWorkflowExecution', 'failWorkflowExecution', 'cancelWorkflowExecution', 'setPatchMarker',
    ];
    expect(commands.filter((c) => !known(coresdk.workflow_commands.WorkflowCommand, c))).toEqual([]);
    expect(known(coresdk.workflow_commands.WorkflowCommand, 'noSuchCommand')).toBe(false);
  });
});
