/**
 * One error class for all of Axis. `code` is stable: programs switch on it;
 * `message` is for people and may change.
 */
export const ErrorCode = {
  INVALID_ARGUMENT: 'AXIS_INVALID_ARGUMENT',
  EMPTY_KEY: 'AXIS_EMPTY_KEY',
  KEY_TOO_LARGE: 'AXIS_KEY_TOO_LARGE',
  VALUE_TOO_LARGE: 'AXIS_VALUE_TOO_LARGE',
  INVALID_RANGE: 'AXIS_INVALID_RANGE',
  FUTURE_REVISION: 'AXIS_FUTURE_REVISION',
  COMPACTED: 'AXIS_COMPACTED',
  CLOSED: 'AXIS_CLOSED',
  ALREADY_OPEN: 'AXIS_ALREADY_OPEN',
  DUPLICATE_KEY: 'AXIS_DUPLICATE_KEY',
  TOO_MANY_OPS: 'AXIS_TOO_MANY_OPS',
  KEY_NOT_FOUND: 'AXIS_KEY_NOT_FOUND',
  SNAPSHOT_RELEASED: 'AXIS_SNAPSHOT_RELEASED',
  TOO_MANY_SNAPSHOTS: 'AXIS_TOO_MANY_SNAPSHOTS',
  NO_SPACE: 'AXIS_NO_SPACE',
  STORAGE: 'AXIS_STORAGE',
  // Leases.
  /** No lease with that id (never granted, revoked, or expired). */
  LEASE_NOT_FOUND: 'AXIS_LEASE_NOT_FOUND',
  /** A grant named an id that is taken. */
  LEASE_EXISTS: 'AXIS_LEASE_EXISTS',
  /** A lessor's expiry lost the race to a keepalive applied after it decided (nothing changed). */
  LEASE_RENEWED: 'AXIS_LEASE_RENEWED',
  /** A grant's TTL is below the server's minimum. */
  LEASE_TTL_TOO_SMALL: 'AXIS_LEASE_TTL_TOO_SMALL',
  // Consensus: why a proposal, read or membership change was refused.
  NO_LEADER: 'AXIS_NO_LEADER',
  NOT_LEADER: 'AXIS_NOT_LEADER',
  TOO_MANY_REQUESTS: 'AXIS_TOO_MANY_REQUESTS',
  TRANSFER_IN_PROGRESS: 'AXIS_TRANSFER_IN_PROGRESS',
  CONF_CHANGE_PENDING: 'AXIS_CONF_CHANGE_PENDING',
  CONF_CHANGE_INVALID: 'AXIS_CONF_CHANGE_INVALID',
  CONF_CHANGE_MALFORMED: 'AXIS_CONF_CHANGE_MALFORMED',
  // Membership and snapshots.
  /** A member with that name, id or peer address is in the cluster already. */
  MEMBER_EXISTS: 'AXIS_MEMBER_EXISTS',
  /** No member with that id in the cluster. */
  MEMBER_NOT_FOUND: 'AXIS_MEMBER_NOT_FOUND',
  /** A learner asked to be promoted before it caught up with the leader. */
  LEARNER_NOT_READY: 'AXIS_LEARNER_NOT_READY',
  /** This member was removed from the cluster: it takes no part any more. */
  MEMBER_REMOVED: 'AXIS_MEMBER_REMOVED',
  /** A snapshot copy this member no longer holds (dropped after a minute unread). */
  SNAPSHOT_GONE: 'AXIS_SNAPSHOT_GONE',
  /** A NOSPACE alarm is active: only reads, deletes, compactions and revokes go through until it is disarmed. */
  QUOTA_EXCEEDED: 'AXIS_QUOTA_EXCEEDED',
  // Cluster service and wire.
  /** A frame that does not decode, or a request of a kind this member does not know. */
  MALFORMED_REQUEST: 'AXIS_MALFORMED_REQUEST',
  /** A message of a wire version this member does not speak. */
  UNSUPPORTED_VERSION: 'AXIS_UNSUPPORTED_VERSION',
  /** A request larger than the 1.5 MiB limit. */
  REQUEST_TOO_LARGE: 'AXIS_REQUEST_TOO_LARGE',
  /** An answer larger than a reply may be (64 MiB): read a large range in pages (limit, then from the last key). */
  RESPONSE_TOO_LARGE: 'AXIS_RESPONSE_TOO_LARGE',
  /** A client connection, or the member, holds as many watches as it may (1,000 per connection, 10,000 per member). */
  TOO_MANY_WATCHES: 'AXIS_TOO_MANY_WATCHES',
  /** The request did not complete in time (it may still take effect; retrying with its id is safe). */
  TIMEOUT: 'AXIS_TIMEOUT',
  /** No member could be reached, or the member is stopping. */
  UNAVAILABLE: 'AXIS_UNAVAILABLE',
  /** A late copy of a write whose answer its client already had: refused, not applied again. */
  DUPLICATE_REQUEST: 'AXIS_DUPLICATE_REQUEST',
  /** No such watch on this member (cancelled, compacted past, or the member restarted). */
  WATCH_NOT_FOUND: 'AXIS_WATCH_NOT_FOUND',
  /** A message from a member of another cluster. */
  CLUSTER_MISMATCH: 'AXIS_CLUSTER_MISMATCH',
  // Security.
  /** A member refused this client's CURVE key (it is not in the member's authorized list). */
  UNAUTHENTICATED: 'AXIS_UNAUTHENTICATED',
  /** A member asked to listen beyond loopback without keys (refused unless --insecure-listen). */
  INSECURE_LISTEN: 'AXIS_INSECURE_LISTEN',
  /** A broken invariant: a bug in Axis. */
  INTERNAL: 'AXIS_INTERNAL',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class AxisError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'AxisError';
    this.code = code;
  }
}

export function isAxisError(err: unknown, code?: ErrorCode): err is AxisError {
  return err instanceof AxisError && (code === undefined || err.code === code);
}
