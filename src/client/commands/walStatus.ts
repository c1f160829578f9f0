// `fbb wal status`: the archive's state from the workflow (a query), its progress from the running
// session's heartbeat, and the archive's folder on this machine when it can be read here.
import fs from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import type { Client } from '@temporalio/client';
import type { WalHeartbeat } from '../../activities/wal/session';
import { parseStoredName } from '../../wal/layout';
import { archiveLag } from '../../wal/status';
import { walStatusQuery, type WalWorkflowStatus } from '../../workflows/archiveWal';
import { describeOrUndefined } from '../temporalRunner';
import { formatTable } from '../output';

/** What `fbb wal status --json` prints. */
export interface WalStatusReport {
  workflow_id: string;
  /** not_started, starting, archiving, retrying, stopping, stopped, or how the run closed otherwise (failed, terminated, ...). */
  state: string;
  slot: string | null;
  system_identifier: string | null;
  last_received_lsn: string | null;
  last_archived_segment: string | null;
  last_archived_at: string | null;
  partial_segment: string | null;
  partial_archived_at: string | null;
  lag_seconds: number | null;
  lag_bytes: number | null;
  server_lsn: string | null;
  /** WAL the server keeps for the slot (restart_lsn to pg_current_wal_lsn): it grows while nobody consumes the slot. */
  slot_retained_bytes: number | null;
  slot_active: boolean | null;
  slot_wal_status: string | null;
  /** The server's max_slot_wal_keep_size in MB; -1: the slot may keep WAL until the disk is full. */
  max_slot_wal_keep_size_mb: number | null;
  local_dir: string | null;
  s3: string | null;
  /** Completed segments in local_dir, when this machine can read it. */
  local_segments: number | null;
  /** When the progress above was read on the worker. */
  as_of: string | null;
  last_error: WalWorkflowStatus['last_error'];
}

/** Builds the report of the archive `workflowId`. */
export async function walStatus(client: Client, workflowId: string, now: Date = new Date()): Promise<WalStatusReport> {
  const handle = client.workflow.getHandle(workflowId);
  const found = await describeOrUndefined(handle);
  const running = found?.status.name === 'RUNNING';
  const wf = running ? await handle.query(walStatusQuery) : undefined;
  const heartbeat = running ? sessionHeartbeat(found!.raw.pendingActivities ?? []) : undefined;
  const hb: WalHeartbeat | null = heartbeat ?? wf?.last ?? null;
  const lag = archiveLag(hb?.position?.server_lsn ?? null, hb?.progress.archived_lsn ?? null, hb?.progress.archived_at ?? null, now);
  const sysid = hb?.system_identifier ?? null;
  const localDir = wf?.settings && sysid ? path.join(wf.settings.local_dir, sysid) : null;
  return {
    workflow_id: workflowId,
    state: found === undefined ? 'not_started' : (wf?.state ?? found.status.name.toLowerCase().replace('completed', 'stopped')),
    slot: wf?.settings?.slot ?? hb?.slot ?? null,
    system_identifier: sysid,
    last_received_lsn: hb?.position?.slot_restart_lsn ?? null,
    last_archived_segment: hb?.progress.last_archived_segment ?? null,
    last_archived_at: hb?.progress.last_archived_at ?? null,
    partial_segment: hb?.progress.partial_segment ?? null,
    partial_archived_at: hb?.progress.partial_archived_at ?? null,
    lag_seconds: lag.lag_seconds,
    lag_bytes: lag.lag_bytes,
    server_lsn: hb?.position?.server_lsn ?? null,
    slot_retained_bytes: hb?.position?.retained_bytes ?? null,
    slot_active: hb?.position ? hb.position.slot_active : null,
    slot_wal_status: hb?.position?.wal_status ?? null,
    max_slot_wal_keep_size_mb: hb?.position?.max_slot_wal_keep_size_mb ?? null,
    local_dir: localDir,
    s3: wf?.settings?.s3 && sysid ? `${wf.settings.s3}${sysid}/` : (wf?.settings?.s3 ?? null),
    local_segments: localDir ? countSegments(localDir) : null,
    as_of: hb ? (hb.sampled_at ?? null) : null,
    last_error: wf?.last_error ?? null,
  };
}

/** The running session's latest heartbeat, if it has sent one. */
function sessionHeartbeat(pending: { activityType?: { name?: string | null } | null; heartbeatDetails?: { payloads?: unknown[] | null } | null }[]): WalHeartbeat | undefined {
  const session = pending.find((a) => a.activityType?.name === 'archiveWalSession');
  const payload = session?.heartbeatDetails?.payloads?.[0];
  return payload ? (defaultPayloadConverter.fromPayload(payload as never) as WalHeartbeat) : undefined;
}

function countSegments(dir: string): number | null {
  try {
    return fs.readdirSync(dir).filter((f) => parseStoredName(f)?.kind === 'segment').length;
  } catch {
    return null;
  }
}

/** The report as a person reads it. */
export function formatWalStatus(r: WalStatusReport): string {
  const mb = (b: number | null) => (b === null ? '-' : `${(b / 1024 / 1024).toFixed(1)} MB`);
  const rows = [
    ['state', r.state],
    ['slot', `${r.slot ?? '-'}${r.slot_active === false ? ' (nothing streams through it now)' : ''}`],
    ['last received', r.last_received_lsn ?? '-'],
    ['last archived', r.last_archived_segment ? `${r.last_archived_segment} at ${r.last_archived_at ?? '?'}` : '-'],
    ['partial copy', r.partial_segment ? `${r.partial_segment} at ${r.partial_archived_at ?? '?'}` : '-'],
    ['lag', r.lag_seconds === null ? '-' : `${r.lag_seconds} s, ${mb(r.lag_bytes)}`],
    ['slot keeps', `${mb(r.slot_retained_bytes)} of WAL on the server (max_slot_wal_keep_size ${r.max_slot_wal_keep_size_mb === null ? '?' : r.max_slot_wal_keep_size_mb < 0 ? 'unlimited' : `${r.max_slot_wal_keep_size_mb} MB`}${r.slot_wal_status ? `, ${r.slot_wal_status}` : ''})`],
    ['local', r.local_dir ?? '-'],
    ['s3', r.s3 ?? '-'],
    ['as of', r.as_of ?? '-'],
  ];
  if (r.last_error) rows.push(['last error', `${r.last_error.type}: ${r.last_error.message} (${r.last_error.at})`]);
  return `WAL archive ${r.workflow_id}\n${formatTable(rows.map(([k, v]) => [`  ${k!}`, v!]))}`;
}
