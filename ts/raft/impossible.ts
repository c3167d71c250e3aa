/**
 * Messages no correct node sends, whatever the network did to them (lost, late, repeated): Raft
 * ignores them rather than act on them. A peer's word is trusted (Raft is not Byzantine tolerant),
 * but only in the shapes Raft itself produces; anything else is a forgery or a bug, and acting on
 * it could rewind a term, corrupt the log or stop the node (etcd panics on several of these).
 */
import { type Message, MessageType } from './types.js';

/**
 * The largest term a message may carry: no cluster holds 2^48 elections, and a term near 2^53
 * would leave no room to count the next ones in a JavaScript number.
 */
export const MAX_TERM = 2 ** 48;

/** Types only ever received from a peer, always stamped with a term (never 0). */
const FROM_PEERS_ONLY: ReadonlySet<MessageType> = new Set([
  MessageType.App, MessageType.AppResp, MessageType.Vote, MessageType.VoteResp, MessageType.PreVote, MessageType.PreVoteResp,
  MessageType.Heartbeat, MessageType.HeartbeatResp, MessageType.Snap, MessageType.ReadIndexResp, MessageType.TimeoutNow,
]);

/** Why `m` cannot come from a correct node, or undefined when it could. */
export function impossible(m: Message): string | undefined {
  if (m.term > MAX_TERM) return `term ${m.term} is beyond any election count (${MAX_TERM})`;
  // (A node that never saw an election, at term 0, refuses a vote with its own term: 0.)
  const refusal = m.reject && (m.type === MessageType.VoteResp || m.type === MessageType.PreVoteResp);
  if (m.term === 0 && FROM_PEERS_ONLY.has(m.type) && !refusal) return `a ${m.type} message without a term`;
  if (m.type === MessageType.Prop && m.entries.length === 0) return 'a proposal without entries';
  if (m.type === MessageType.App) {
    if (m.logTerm > m.term) return `an append after an entry of term ${m.logTerm}, from a leader of term ${m.term}`;
    let prev = m.logTerm;
    for (let i = 0; i < m.entries.length; i++) {
      const e = m.entries[i]!;
      // A leader sends a run of its log: the entries that follow (index, logTerm), terms never falling, none past its own.
      if (e.index !== m.index + 1 + i) return `an append after index ${m.index} holding entry ${e.index} at position ${i}`;
      if (e.term < prev || e.term > m.term) return `an append of term ${m.term} holding entry ${e.index} of term ${e.term} after term ${prev}`;
      prev = e.term;
    }
  }
  return undefined;
}
