// Dates and lengths of time as the raw gRPC API (client.workflowService) takes and gives them:
// protobuf Timestamp / Duration with int64 seconds. The SDK's own converters are internal to it.
import Long from 'long';

/** A protobuf Timestamp (or Duration) for `ms` milliseconds (since the epoch, or long). */
export function protoTime(ms: number): { seconds: Long; nanos: number } {
  const seconds = Math.floor(ms / 1000);
  return { seconds: Long.fromNumber(seconds), nanos: (ms - seconds * 1000) * 1_000_000 };
}

/** The Date a protobuf Timestamp from the server stands for. */
export function dateOf(ts: { seconds?: Long | number | null; nanos?: number | null }): Date {
  const seconds = Long.isLong(ts.seconds) ? ts.seconds.toNumber() : Number(ts.seconds ?? 0);
  return new Date(seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1_000_000));
}
