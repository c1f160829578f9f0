// What a person sees in the Temporal Web UI (the dev server's, test/globalSetup.ts) in a real browser
// (Debian's chromium driven by playwright-core): a finished backup with its type, status and the
// backup's filename, and a restore waiting for its confirmRestore signal. The UI is a single-page app
// that loads its data through its own API after the page has loaded, so every check waits for text.
//
// UPDATE_SCREENSHOTS=1 writes the screenshots into docs/images/ (shown in docs/operations.md); without
// it they go to a temporary directory, so a test run never rewrites the committed images.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../src/config';
import { backupWorkflowId, restoreWorkflowId } from '../src/ids';
import { backupDatabase, cancelRestore, restoreDatabase, statusQuery } from '../src/workflows';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { createDatabase, dropDatabase, testConfig, withAdmin } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

const CHROMIUM = '/usr/bin/chromium';
// As root on a closed network: no sandbox, and nothing that phones home (ENVIRONMENT.md).
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const TEXT_TIMEOUT = 90_000;
const SCREENSHOTS = process.env.UPDATE_SCREENSHOTS === '1' ? path.join(__dirname, '..', 'docs', 'images') : fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-webui-'));

let database: string;
let config: Config;
let worker: TestWorker;
let profile: string;
let browser: BrowserContext;
let backup: WorkflowHandle<typeof backupDatabase>;
let backupResult: BackupResult;

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing; run "bash scripts/install-deps.sh" (it installs Debian's chromium)`);
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  database = await createDatabase('webui');
  config = onTemporal(testConfig({ database }));
  worker = await startTestWorker(config);
  const client = await testClient();
  backup = await client.workflow.start(backupDatabase, { taskQueue: worker.taskQueue, workflowId: backupWorkflowId(database, 'manual'), args: [{ backup_type: 'manual', cleanup_old: false }] });
  backupResult = await backup.result();
  profile = fs.mkdtempSync(path.join(os.tmpdir(), 'fbb-chromium-'));
  browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS, viewport: { width: 1400, height: 1000 } });
}, 300_000);

afterAll(async () => {
  await browser?.close();
  if (profile) fs.rmSync(profile, { recursive: true, force: true });
  if (process.env.UPDATE_SCREENSHOTS !== '1') fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
  await worker?.stop();
  if (database) {
    // The confirmed restore renamed the database it replaced aside (<database>_pre_restore_<time>).
    const { rows } = await withAdmin((c) => c.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '_')", [database]));
    for (const { datname } of rows) await dropDatabase(datname);
  }
  if (config) fs.rmSync(config.backup.dir, { recursive: true, force: true });
});

/** Opens the UI's page of one workflow. */
async function openWorkflow(workflowId: string): Promise<Page> {
  const page = await browser.newPage();
  await page.goto(`${temporalInfo.uiUrl}/namespaces/${temporalInfo.namespace}/workflows/${encodeURIComponent(workflowId)}`);
  await page.getByText(workflowId).first().waitFor({ timeout: TEXT_TIMEOUT });
  return page;
}

/** Waits until the restore asks for its confirmRestore signal (after its pre-restore backup). */
async function awaitingConfirmation(restore: WorkflowHandle<typeof restoreDatabase>): Promise<void> {
  const deadline = Date.now() + 120_000;
  for (let phase = ''; phase !== 'awaiting_confirmation'; phase = (await restore.query(statusQuery)).phase) {
    if (phase === 'done' || Date.now() > deadline) throw new Error(`restore ${restore.workflowId} did not wait for confirmation (phase ${phase})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** Waits until `text` is visible on the page. */
async function sees(page: Page, text: string | RegExp): Promise<void> {
  await page.getByText(text).first().waitFor({ state: 'visible', timeout: TEXT_TIMEOUT });
}

describe('the Temporal Web UI', () => {
  it('shows a finished backup: its workflow type, Completed, and the backup file in its result', async () => {
    const page = await openWorkflow(backup.workflowId);
    await sees(page, 'backupDatabase');
    await sees(page, /^completed$/i);
    await sees(page, backupResult.filename);
    await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-backup-completed.png') });
    await page.close();
  }, 180_000);

  it('shows a restore waiting for confirmation (Running; phase awaiting_confirmation in its status query), and confirms it with Send a Signal', async () => {
    const client = await testClient();
    const restore = await client.workflow.start(restoreDatabase, {
      taskQueue: worker.taskQueue,
      workflowId: restoreWorkflowId(database),
      args: [{ backup_filename: backupResult.filename }],
    });
    try {
      await awaitingConfirmation(restore);
      const page = await openWorkflow(restore.workflowId);
      await sees(page, 'restoreDatabase');
      await sees(page, /^running$/i);
      await page.getByRole('tab', { name: /queries/i }).click();
      // The UI lists the workflow's queries; "status" is its only one. Running it shows the restore's state.
      await sees(page, 'Run Query');
      await page.getByRole('button', { name: 'Run Query' }).click();
      await sees(page, 'awaiting_confirmation');
      await page.screenshot({ path: path.join(SCREENSHOTS, 'webui-restore-waiting.png') });
      // The runbook's next step, as a person does it: More Actions, Send a Signal, confirmRestore.
      await page.getByRole('button', { name: 'More Actions' }).click();
      await page.getByRole('menuitem', { name: 'Send a Signal' }).click();
      const dialog = page.getByRole('dialog', { name: 'Send a Signal' });
      await dialog.getByRole('button', { name: 'Select a signal' }).click();
      await page.getByRole('option', { name: 'confirmRestore' }).click();
      await dialog.getByRole('textbox', { name: 'Data' }).click();
      await page.keyboard.type('{"confirmed_by": "grace (web ui)"}');
      await dialog.getByRole('button', { name: 'Submit' }).click();
      await sees(page, /^completed$/i);
      const result = await restore.result();
      expect(result).toMatchObject({ status: 'success', confirmed_by: 'grace (web ui)' });
      await page.close();
    } finally {
      // A failed check must not leave the run waiting for an hour on the shared server.
      if ((await restore.describe()).status.name === 'RUNNING') await restore.signal(cancelRestore, { cancelled_by: 'webui test', reason: 'the test failed' });
    }
  }, 240_000);
});
