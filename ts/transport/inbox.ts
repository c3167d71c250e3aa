/**
 * The receiving half shared by both transports: a frame (or, in memory, a batch) from a sender is
 * checked and handed to onMessages, or dropped with a logged reason. Nothing a peer sends can make
 * it throw.
 */
import { AxisError, ErrorCode, isAxisError } from '../errors/index.js';
import { decodePeerBatch, LOCAL_MESSAGE_TYPES, type PeerBatch } from '../proto/raft.js';
import type { Message, MessageType, NodeId } from '../raft/types.js';

export interface InboxOptions {
  id: NodeId;
  clusterId: number;
  onMessages: (messages: Message[], from: NodeId) => void;
  log: (line: string) => void;
}

/** What Raft forwards on another member's behalf: the message keeps its origin in `from`. */
const FORWARDED: ReadonlySet<MessageType> = new Set(['prop', 'readIndex', 'transferLeader'] as MessageType[]);

/** A sender's routing id as text: a member's is its id in decimal; anything unprintable shows as hex. */
export function routingIdText(routingId: Uint8Array): string {
  const text = Buffer.from(routingId.buffer, routingId.byteOffset, routingId.byteLength).toString('latin1');
  return /^[\x20-\x7e]*$/.test(text) ? text : `0x${Buffer.from(routingId).toString('hex')}`;
}

/**
 * Drops worth a log line, without letting a peer that keeps sending flood the log: each (code,
 * sender) is logged at its 1st, 2nd, 4th, 8th... occurrence, and the table stays bounded whoever
 * connects.
 */
export class Complaints {
  private readonly seen = new Map<string, number>();
  /** Drops by error code. */
  readonly dropped = new Map<string, number>();

  constructor(private readonly log: (line: string) => void) {}

  add(code: string, sender: string, line: string, once = false): void {
    this.dropped.set(code, (this.dropped.get(code) ?? 0) + 1);
    const key = `${code} ${sender}`;
    if (this.seen.size >= 1024 && !this.seen.has(key)) this.seen.clear();
    const n = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, n);
    if (once ? n === 1 : (n & (n - 1)) === 0) this.log(`${code}: ${line}${n > 1 ? ` (${n} so far)` : ''}`);
  }
}

export class Inbox {
  private readonly complaints: Complaints;
  /** Batches and messages handed to onMessages. */
  batches = 0;
  messages = 0;

  constructor(private readonly o: InboxOptions) {
    this.complaints = new Complaints(o.log);
  }

  /** Frames or messages dropped, by error code. */
  get dropped(): ReadonlyMap<string, number> {
    return this.complaints.dropped;
  }

  /** A frame from the socket whose routing id is `from` (see routingIdText). */
  frame(from: string, frame: Uint8Array): void {
    const sender = `peer ${JSON.stringify(from)}`;
    let batch: PeerBatch;
    try {
      batch = decodePeerBatch(frame);
    } catch (err) {
      const e = isAxisError(err) ? err : new AxisError(ErrorCode.MALFORMED_REQUEST, String(err));
      this.complaints.add(e.code, sender, `dropped a ${frame.length}-byte frame from ${sender}: ${e.message}`);
      return;
    }
    this.batch(from, batch);
  }

  /** Something from `from` that is not a frame at all (e.g. a multipart message). */
  reject(from: string, what: string): void {
    const sender = `peer ${JSON.stringify(from)}`;
    this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped ${what} from ${sender}`);
  }

  /** A decoded batch from the socket whose routing id is `from` (the memory transport's object mode). */
  batch(from: string, batch: PeerBatch): void {
    const sender = `peer ${JSON.stringify(from)}`;
    if (batch.clusterId !== this.o.clusterId) {
      // Once per sender: a misconfigured member keeps sending, and the first line says it all.
      this.complaints.add(ErrorCode.CLUSTER_MISMATCH, sender, `dropped a batch from ${sender} (member ${batch.from}) of cluster ${batch.clusterId}: this member is in cluster ${this.o.clusterId}; further batches from it are dropped silently`, true);
      return;
    }
    if (from !== String(batch.from)) {
      this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped a batch from ${sender} claiming to be from member ${batch.from}`);
      return;
    }
    const misfit = (m: Message) => m.to !== this.o.id || LOCAL_MESSAGE_TYPES.has(m.type) || (m.from !== batch.from && !FORWARDED.has(m.type));
    let messages = batch.messages;
    if (messages.some(misfit)) {
      messages = messages.filter((x) => {
        if (x.to !== this.o.id) {
          this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped a ${x.type} message from ${sender} addressed to member ${x.to}: this is member ${this.o.id} (is the peer list right?)`);
          return false;
        }
        if (LOCAL_MESSAGE_TYPES.has(x.type)) {
          this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped a ${x.type} message from ${sender}: that type never crosses the network`);
          return false;
        }
        if (x.from !== batch.from && !FORWARDED.has(x.type)) {
          this.complaints.add(ErrorCode.MALFORMED_REQUEST, sender, `dropped a ${x.type} message from ${sender} naming member ${x.from} as its sender: only forwarded proposals, reads and transfers carry another member's id`);
          return false;
        }
        return true;
      });
    }
    if (messages.length === 0) return;
    this.batches++;
    this.messages += messages.length;
    try {
      this.o.onMessages(messages, batch.from);
    } catch (err) {
      // The receiver's bug, not the peer's: say so loudly, and keep receiving.
      this.o.log(`${ErrorCode.INTERNAL}: onMessages threw on a batch from ${sender}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    }
  }
}
