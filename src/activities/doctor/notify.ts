import type { Config } from '../../config';
import type { CheckResult } from '../../doctor/report';
import { sendNotification, webhookHost } from '../notify';

/**
 * The webhooks: which hosts get notifications and when; with `send`, a test notification is
 * POSTed to each (once, no retries) and the check says which hosts took it. Never shows a URL.
 */
export async function checkNotifications(config: Config, send: boolean): Promise<CheckResult> {
  const hosts = config.notify.webhookUrls.map(webhookHost);
  if (hosts.length === 0) {
    return send
      ? { name: 'notifications', status: 'fail', detail: 'no test sent: NOTIFY_WEBHOOK_URL is not set on the worker', hint: 'set NOTIFY_WEBHOOK_URL (one or more webhook URLs, comma-separated) where the worker runs, restart it, and test again' }
      : { name: 'notifications', status: 'skip', detail: 'NOTIFY_WEBHOOK_URL is not set: failed runs show only in "fbb history"' };
  }
  const when = config.notify.on === 'always' ? 'every run' : 'failures';
  if (!send) return { name: 'notifications', status: 'ok', detail: `${when} notified to ${hosts.join(', ')} (fbb doctor --notify-test sends a test)` };
  try {
    await sendNotification(
      config,
      { kind: 'test', outcome: 'success', workflow_type: 'checkEnvironment', workflow_id: 'doctor --notify-test', run_id: '', status: 'test', backup_file: null, error: null },
      { force: true },
    );
    return { name: 'notifications', status: 'ok', detail: `test notification delivered to ${hosts.join(', ')}; ${when} will be notified` };
  } catch (err) {
    return { name: 'notifications', status: 'fail', detail: (err as Error).message, hint: 'check that the receiver is up and the URL in NOTIFY_WEBHOOK_URL is right (the worker logs and this report show only its host)' };
  }
}
