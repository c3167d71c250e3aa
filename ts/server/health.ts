/**
 * Whether a member is healthy, as `/health` answers: it has not stopped on an error, it knows a
 * leader, and it is applying what is committed (its applied index has caught up with its commit
 * index, or it moved since the last look or within `stallMs`).
 */
import type { MemberStatus } from './member.js';

export interface Health {
  health: boolean;
  /** Why not, when not healthy. */
  reason?: string;
  leader: string;
  term: number;
  commitIndex: number;
  appliedIndex: number;
}

export class HealthCheck {
  private applied: number;
  private movedAt: number;

  constructor(
    private readonly member: { status(): MemberStatus; readonly failed: Error | undefined },
    private readonly stallMs: number,
    now = Date.now(),
  ) {
    this.applied = member.status().appliedIndex;
    this.movedAt = now;
  }

  check(now = Date.now()): Health {
    const s = this.member.status();
    if (s.appliedIndex !== this.applied) {
      this.applied = s.appliedIndex;
      this.movedAt = now;
    }
    const behind = s.appliedIndex < s.commitIndex && now - this.movedAt > this.stallMs;
    const failure = this.member.failed;
    const reason = failure ? `stopped: ${failure.message}` : s.leader === 0 ? 'no leader' : behind ? `applied index ${s.appliedIndex} has not moved toward commit index ${s.commitIndex} for ${now - this.movedAt} ms` : undefined;
    return {
      health: reason === undefined,
      ...(reason === undefined ? {} : { reason }),
      leader: s.leader.toString(16),
      term: s.term,
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
    };
  }
}
