/**
 * What a member lets through from its peers to Raft. The transport has checked that a batch is
 * well formed and that its messages are the sender's own (ts/transport/inbox.ts); here the member
 * checks what only it knows:
 * - the sender is a member (or a removed one, to be told so), never this member itself, and every
 *   message names a member as its origin: anyone else is no peer, whatever it claims;
 * - the message is one a correct node could send at all (ts/raft/impossible.ts);
 * - it is one a correct member sends: a snapshot is a ticket naming a client address (or the
 *   removed notice), never raw data or a chunk, and a forwarded proposal holds entries this member can apply (a write entry
 *   or a no-op) or a member publishing its own record. A committed entry no member can read stops
 *   every member (they must not skip it), so it must never get into the log.
 * Dropped messages are logged (rate limited per reason and sender) and never reach Raft.
 */
import { ErrorCode } from '../errors/index.js';
import { decodeConfChange } from '../raft/confchange.js';
import { impossible } from '../raft/impossible.js';
import { EntryType, type Message, MessageType, type NodeId } from '../raft/types.js';
import { Complaints } from '../transport/index.js';
import { checkEndpoint } from './config.js';
import { decodeEntry } from './entry.js';
import { isRemovedNotice } from './membership.js';
import { decodeTicket } from './snapshot.js';

export class PeerGate {
  private readonly complaints: Complaints;

  constructor(
    private readonly self: NodeId,
    /** A member, or a removed member (still heard, to be told it was removed). */
    private readonly known: (id: NodeId) => boolean,
    log: (line: string) => void,
  ) {
    this.complaints = new Complaints(log);
  }

  /** Drops by error code. */
  get dropped(): ReadonlyMap<string, number> {
    return this.complaints.dropped;
  }

  /** The messages of a batch from `from` that may reach Raft. */
  admit(ms: Message[], from: NodeId): Message[] {
    const sender = `member ${from}`;
    if (from === this.self || !this.known(from)) {
      this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped ${ms.length} message(s) from ${from}: ${from === this.self ? 'this member does not send to itself' : 'not a member of this cluster'}`);
      return [];
    }
    return ms.filter((m) => {
      const why = this.refusal(m);
      if (why) this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped a ${m.type} message from ${sender}: ${why}`);
      return why === undefined;
    });
  }

  private refusal(m: Message): string | undefined {
    if (m.from !== this.self && !this.known(m.from)) return `it names ${m.from}, not a member, as its origin`;
    const no = impossible(m);
    if (no) return no;
    if (m.type === MessageType.Snap) return this.ticket(m);
    if (m.type === MessageType.Prop) {
      for (const e of m.entries) {
        const why = e.type === EntryType.ConfChange ? this.publication(e.data, m.from) : unreadable(e.data);
        if (why) return why;
      }
    }
    return undefined;
  }

  /** A snapshot from a member is a ticket to pull the copy from its client address (or the removed notice). */
  private ticket(m: Message): string | undefined {
    if (!m.snapshot || m.chunk || m.snapshot.data.length === 0) return 'a snapshot that is no ticket';
    if (isRemovedNotice(m.snapshot.data)) return undefined;
    const t = decodeTicket(m.snapshot.data);
    if (!t) return 'a snapshot that is no ticket';
    try {
      checkEndpoint(t.clientUrl, 'a snapshot ticket\'s address');
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** A forwarded membership change is a member publishing its own record (Member.publishSelf). */
  private publication(data: Uint8Array, from: NodeId): string | undefined {
    try {
      const cc = decodeConfChange(data);
      if (cc.changes.length > 0 && cc.changes.every((c) => c.nodeId === from && (c.type === 'addNode' || c.type === 'addLearner'))) return undefined;
      return 'a forwarded membership change other than a member publishing its own record';
    } catch (err) {
      return `a membership change that does not decode (${(err as Error).message})`;
    }
  }
}

function unreadable(data: Uint8Array): string | undefined {
  if (data.length === 0) return undefined; // a no-op
  try {
    decodeEntry(data);
    return undefined;
  } catch (err) {
    return `an entry no member could apply (${(err as Error).message})`;
  }
}
