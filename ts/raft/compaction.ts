/**
 * When to snapshot and how much log to keep: every `snapshotEvery` applied entries the
 * application takes a snapshot, and the log keeps `keep` entries before it so that a follower
 * a little behind catches up from the log instead of a whole snapshot.
 */
export interface CompactionPolicy {
  snapshotEvery: number;
  keep: number;
}

export interface CompactionPlan {
  /** Take a snapshot of the state at this applied index. */
  snapshotAt: number;
  /** Then drop the log before this index. */
  compactTo: number;
}

export function planCompaction(applied: number, lastSnapshot: number, firstIndex: number, policy: CompactionPolicy): CompactionPlan | undefined {
  if (policy.snapshotEvery <= 0 || applied - lastSnapshot < policy.snapshotEvery) return undefined;
  return { snapshotAt: applied, compactTo: Math.max(firstIndex, applied - policy.keep) };
}
