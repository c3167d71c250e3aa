/**
 * Who is in the cluster, beside Raft's own view of it: every member's name and addresses. It is
 * replicated state: a membership change's ConfChange carries the member it adds or updates in its
 * context, and the store keeps the whole record with the applied membership (the `conf` bytes of
 * an APPLY), so a restarted member, or one that installs a snapshot, knows every peer's address.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { decodeConfState } from '../raft/durable-storage.js';
import type { ConfState, NodeId } from '../raft/types.js';

export interface MemberRecord {
  id: NodeId;
  name: string;
  peerUrl: string;
  /** '' until the member tells (an initial member's client address is its own to know). */
  clientUrl: string;
}

export interface Membership {
  conf: ConfState;
  members: MemberRecord[];
}

/** The applied membership as the store keeps it: the ConfState's JSON with the members beside. */
export function encodeMembership(m: Membership): Uint8Array {
  return Buffer.from(JSON.stringify({ ...m.conf, members: m.members }), 'utf8');
}

/** The record a store kept; `members` is undefined for one written before addresses were kept. */
export function decodeMembership(b: Uint8Array): { conf: ConfState; members: MemberRecord[] | undefined } {
  const conf = decodeConfState(b);
  let members: MemberRecord[] | undefined;
  if (b.length > 0) {
    const o = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')) as { members?: unknown };
    if (Array.isArray(o.members)) members = o.members.map(checkRecord);
  }
  return { conf, members };
}

function checkRecord(x: unknown): MemberRecord {
  const r = x as Partial<MemberRecord> | null;
  if (!r || typeof r.id !== 'number' || typeof r.name !== 'string' || typeof r.peerUrl !== 'string' || typeof r.clientUrl !== 'string') {
    throw new AxisError(ErrorCode.STORAGE, 'corrupt membership record');
  }
  return { id: r.id, name: r.name, peerUrl: r.peerUrl, clientUrl: r.clientUrl };
}

/** A ConfChange's context: the member it adds or whose addresses it changes. */
export function encodeContext(m: MemberRecord): Uint8Array {
  return Buffer.from(JSON.stringify(m), 'utf8');
}

export function decodeContext(b: Uint8Array | undefined): MemberRecord | undefined {
  if (!b || b.length === 0) return undefined;
  try {
    return checkRecord(JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8')));
  } catch {
    return undefined; // not ours to read: the change still applies, addresses unchanged
  }
}

/**
 * What a member sends a peer it has seen removed from the cluster, in a snapshot message's data:
 * a removed member never hears the entry that removed it committed (nobody replicates to it any
 * more), so it is told, as etcd's peers tell it, and stops.
 */
export const REMOVED_NOTICE = Buffer.from('{"removed":true}', 'utf8');

export function isRemovedNotice(data: Uint8Array): boolean {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength).equals(REMOVED_NOTICE);
}
