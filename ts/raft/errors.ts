/**
 * The Raft core raises AxisErrors (one error class for all of Axis), with these codes; the server
 * passes them on to clients unchanged.
 */
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';

export const RaftErrorReason = {
  NO_LEADER: ErrorCode.NO_LEADER,
  NOT_LEADER: ErrorCode.NOT_LEADER,
  /** The leader holds too many uncommitted entries (etcd: too many requests). */
  TOO_MANY_REQUESTS: ErrorCode.TOO_MANY_REQUESTS,
  TRANSFER_IN_PROGRESS: ErrorCode.TRANSFER_IN_PROGRESS,
  CONF_CHANGE_PENDING: ErrorCode.CONF_CHANGE_PENDING,
  /** A membership change that etcd's Changer refuses (e.g. "removed all voters"). */
  CONF_CHANGE_INVALID: ErrorCode.CONF_CHANGE_INVALID,
  /** Bytes that do not decode to a ConfChange. */
  CONF_CHANGE_MALFORMED: ErrorCode.CONF_CHANGE_MALFORMED,
  /** A caller broke a precondition of the core (etcd panics here). */
  INVARIANT_VIOLATED: ErrorCode.INTERNAL,
} as const;

export type RaftErrorReason = (typeof RaftErrorReason)[keyof typeof RaftErrorReason];

export function raftError(reason: RaftErrorReason, message: string): AxisError {
  return new AxisError(reason, message);
}

export function isRaftError(err: unknown, reason?: RaftErrorReason): err is AxisError {
  return isAxisError(err, reason);
}
