/**
 * The peer wire format (raft.proto): a PeerBatch of Raft messages per frame, converted to and from
 * the exact shapes of ts/raft/types.ts. Used by ts/transport (both implementations).
 *
 * Decoding is defensive (frames come from the network): anything that does not decode, or decodes to
 * values ts/raft could not have produced (unknown message or entry types, unsafe integers), throws
 * AxisError(AXIS_MALFORMED_REQUEST); a batch of another version throws AXIS_UNSUPPORTED_VERSION.
 * Byte fields come back as fresh Uint8Arrays, never views into the frame (an entry kept in the raft
 * log must not pin a whole received frame, nor alias memory the socket layer may reuse).
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import type { ConfState, Entry, EntryType, Message, MessageType, NodeId, Snapshot } from '../raft/types.js';
import { loadProto } from './load.js';

/** The PeerBatch version this build speaks. */
export const PEER_BATCH_VERSION = 1;

export interface PeerBatch {
  version: number;
  clusterId: number;
  from: NodeId;
  messages: Message[];
}

const root = loadProto('raft.proto');
const PeerBatchType = root.lookupType('axis.raft.PeerBatch');

// The string MessageType of ts/raft/types.ts <-> the proto enum's numbers (raft.proto MessageType).
const MESSAGE_TYPES: readonly MessageType[] = [
  'hup', 'beat', 'prop', 'app', 'appResp', 'vote', 'voteResp', 'preVote', 'preVoteResp', 'heartbeat',
  'heartbeatResp', 'snap', 'unreachable', 'checkQuorum', 'readIndex', 'readIndexResp', 'transferLeader',
  'timeoutNow', 'snapStatus',
] as MessageType[];
const TYPE_NUMBER = new Map<string, number>(MESSAGE_TYPES.map((t, i) => [t, i + 1]));

/** Whether `type` is a MessageType this wire can carry (every one of ts/raft/types.ts). */
export function isWireMessageType(type: unknown): type is MessageType {
  return typeof type === 'string' && TYPE_NUMBER.has(type);
}

/** Message types that only ever exist inside one member (never legitimately received from a peer). */
export const LOCAL_MESSAGE_TYPES: ReadonlySet<MessageType> = new Set(['hup', 'beat', 'unreachable', 'checkQuorum', 'snapStatus'] as MessageType[]);

// ---- what protobufjs reads and writes (numbers: see load.ts) ------------------------------------

interface PbEntry { term?: number; index?: number; type?: number; data?: Uint8Array }
interface PbConfState { voters?: number[]; votersOutgoing?: number[]; learners?: number[]; learnersNext?: number[]; autoLeave?: boolean }
interface PbSnapshot { meta?: { index?: number; term?: number; confState?: PbConfState | null } | null; data?: Uint8Array }
interface PbMessage {
  type?: number; from?: number; to?: number; term?: number; logTerm?: number; index?: number; entries?: PbEntry[];
  commit?: number; reject?: boolean; rejectHint?: number; snapshot?: PbSnapshot | null; context?: Uint8Array | null;
  transfer?: boolean | null; chunk?: { offset?: number; total?: number } | null;
}
interface PbPeerBatch { version?: number; clusterId?: number; from?: number; messages?: PbMessage[] }

// ---- encode ---------------------------------------------------------------------------------------

function pbConfState(c: ConfState): PbConfState {
  return { voters: c.voters, votersOutgoing: c.votersOutgoing, learners: c.learners, learnersNext: c.learnersNext, autoLeave: c.autoLeave };
}

function pbMessage(m: Message): PbMessage {
  const type = TYPE_NUMBER.get(m.type);
  if (type === undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot encode a raft message of unknown type ${JSON.stringify(m.type)}`);
  const out: PbMessage = {
    type, from: m.from, to: m.to, term: m.term, logTerm: m.logTerm, index: m.index, commit: m.commit, reject: m.reject, rejectHint: m.rejectHint,
  };
  if (m.entries.length > 0) out.entries = m.entries as PbEntry[];
  if (m.snapshot) out.snapshot = { meta: { index: m.snapshot.meta.index, term: m.snapshot.meta.term, confState: pbConfState(m.snapshot.meta.confState) }, data: m.snapshot.data };
  if (m.context !== undefined) out.context = m.context;
  if (m.transfer !== undefined) out.transfer = m.transfer;
  if (m.chunk) out.chunk = { offset: m.chunk.offset, total: m.chunk.total };
  return out;
}

/** One frame carrying `messages` from member `from` of cluster `clusterId`. */
export function encodePeerBatch(batch: { clusterId: number; from: NodeId; messages: readonly Message[]; version?: number }): Uint8Array {
  const pb: PbPeerBatch = {
    version: batch.version ?? PEER_BATCH_VERSION,
    clusterId: batch.clusterId,
    from: batch.from,
    messages: batch.messages.map(pbMessage),
  };
  return PeerBatchType.encode(pb as never).finish();
}

/** A rough upper bound of a message's encoded size, for batching by bytes without encoding twice. */
export function approxMessageBytes(m: Message): number {
  let n = 96 + (m.context ? m.context.length : 0);
  for (const e of m.entries) n += 24 + e.data.length;
  if (m.snapshot) {
    const c = m.snapshot.meta.confState;
    n += 48 + m.snapshot.data.length + 10 * (c.voters.length + c.votersOutgoing.length + c.learners.length + c.learnersNext.length);
  }
  return n;
}

// ---- decode ---------------------------------------------------------------------------------------

function malformed(what: string): never {
  throw new AxisError(ErrorCode.MALFORMED_REQUEST, `malformed peer batch: ${what}`);
}

function u(v: number | undefined | null, what: string): number {
  if (v == null) return 0;
  if (!Number.isSafeInteger(v) || v < 0) malformed(`${what} ${v} is not an integer in [0, 2^53)`);
  return v;
}

function ids(v: number[] | undefined, what: string): NodeId[] {
  if (!v || v.length === 0) return [];
  return v.map((x) => u(x, what));
}

function bytes(b: Uint8Array | undefined | null): Uint8Array {
  return b && b.length > 0 ? new Uint8Array(b) : new Uint8Array(0);
}

function fromPbEntry(e: PbEntry): Entry {
  const type = e.type ?? 0;
  if (type !== 0 && type !== 1) malformed(`unknown entry type ${type}`);
  return { term: u(e.term, 'entry term'), index: u(e.index, 'entry index'), type: type as EntryType, data: bytes(e.data) };
}

function fromPbSnapshot(s: PbSnapshot): Snapshot {
  const meta = s.meta;
  const c = meta?.confState;
  return {
    meta: {
      index: u(meta?.index, 'snapshot index'),
      term: u(meta?.term, 'snapshot term'),
      confState: {
        voters: ids(c?.voters, 'voter'),
        votersOutgoing: ids(c?.votersOutgoing, 'voter'),
        learners: ids(c?.learners, 'learner'),
        learnersNext: ids(c?.learnersNext, 'learner'),
        autoLeave: c?.autoLeave === true,
      },
    },
    data: bytes(s.data),
  };
}

function fromPbMessage(p: PbMessage): Message {
  const type = MESSAGE_TYPES[(p.type ?? 0) - 1];
  if (type === undefined) malformed(`unknown message type ${p.type ?? 0}`);
  const m: Message = {
    type,
    from: u(p.from, 'from'),
    to: u(p.to, 'to'),
    term: u(p.term, 'term'),
    logTerm: u(p.logTerm, 'logTerm'),
    index: u(p.index, 'index'),
    entries: p.entries && p.entries.length > 0 ? p.entries.map(fromPbEntry) : [],
    commit: u(p.commit, 'commit'),
    reject: p.reject === true,
    rejectHint: u(p.rejectHint, 'rejectHint'),
  };
  if (p.snapshot != null) m.snapshot = fromPbSnapshot(p.snapshot);
  if (p.context != null) m.context = bytes(p.context);
  if (p.transfer != null) m.transfer = p.transfer;
  if (p.chunk != null) m.chunk = { offset: u(p.chunk.offset, 'chunk offset'), total: u(p.chunk.total, 'chunk total') };
  return m;
}

/** The version field of a frame that did not decode as a whole, if it starts with one (field 1, varint). */
function peekVersion(buf: Uint8Array): number | undefined {
  if (buf.length < 2 || buf[0] !== 0x08) return undefined;
  let v = 0;
  for (let i = 1, shift = 0; i < buf.length && shift < 35; i++, shift += 7) {
    const b = buf[i]!;
    v += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return v;
  }
  return undefined;
}

/**
 * The batch in `buf`. Throws AxisError: AXIS_UNSUPPORTED_VERSION for another version,
 * AXIS_MALFORMED_REQUEST for anything else wrong. Never returns a partial batch.
 */
export function decodePeerBatch(buf: Uint8Array): PeerBatch {
  let pb: PbPeerBatch;
  try {
    pb = PeerBatchType.decode(buf) as PbPeerBatch;
  } catch (err) {
    const version = peekVersion(buf);
    if (version !== undefined && version !== PEER_BATCH_VERSION) unsupported(version);
    malformed(`${buf.length} bytes do not decode (${err instanceof Error ? err.message : String(err)})`);
  }
  const version = pb.version ?? 0;
  if (version !== PEER_BATCH_VERSION) unsupported(version);
  const messages = pb.messages && pb.messages.length > 0 ? pb.messages.map(fromPbMessage) : [];
  return { version, clusterId: u(pb.clusterId, 'cluster id'), from: u(pb.from, 'from'), messages };
}

function unsupported(version: number): never {
  throw new AxisError(ErrorCode.UNSUPPORTED_VERSION, `peer batch version ${version} is not supported (this member speaks version ${PEER_BATCH_VERSION})`);
}
