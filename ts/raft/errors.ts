/**
 * The Raft core's one error class. `reason` is stable (programs switch on it); `message` is for
 * people and may change.
 */
export const RaftErrorReason = {
  /** A membership change that etcd's Changer refuses (e.g. "removed all voters"). */
  CONF_CHANGE_INVALID: 'conf-change-invalid',
  /** Bytes that do not decode to a ConfChange. */
  CONF_CHANGE_MALFORMED: 'conf-change-malformed',
  /** A caller broke a precondition of the core (etcd panics here). */
  INVARIANT_VIOLATED: 'invariant-violated',
} as const;

export type RaftErrorReason = (typeof RaftErrorReason)[keyof typeof RaftErrorReason];

export class RaftError extends Error {
  readonly reason: RaftErrorReason;
  constructor(reason: RaftErrorReason, message: string) {
    super(message);
    this.name = 'RaftError';
    this.reason = reason;
  }
}

export function isRaftError(err: unknown, reason?: RaftErrorReason): err is RaftError {
  return err instanceof RaftError && (reason === undefined || err.reason === reason);
}
