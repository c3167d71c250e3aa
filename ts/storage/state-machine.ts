/**
 * The replicated state machine's apply path (native/statemachine.h): a cluster member applies
 * committed Raft entries with `Store.apply`, and each entry's data change, its applied index/term,
 * its membership and its client's dedup record commit in one transaction — after a crash an entry
 * is never applied twice nor skipped.
 *
 * Client requests carry (client, seq): a request whose (client, seq) was applied before is not
 * applied again; the entry's result is the first one's, byte for byte. The dedup table forgets a
 * client's requests below the `floor` it sends (the client has those answers) and, by age, records
 * made more than `horizon` entries ago. A request re-sent after its record was forgotten is applied
 * again: clients must not re-send a seq below the floor they sent, nor one older than the horizon.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { Decoder, type Encoder, RequestKind } from './codec.js';
import { checkBytes as bytes, checkInteger as safe } from './validate.js';

export interface ApplyRequest {
  /** The client's id and its request's sequence number (each up to 2^53). */
  client: number;
  seq: number;
  /** The client holds the answers to its requests below this seq: their records may go. */
  floor: number;
  /** The write request's bytes, from `encodeWrite`. */
  body: Uint8Array;
}

/** One committed Raft entry to apply. Entries without `request` only advance the applied index (and membership). */
export interface ApplyEntry {
  index: number;
  term: number;
  /** The membership after this entry, when it changes it (opaque bytes, kept as they are). */
  conf?: Uint8Array;
  request?: ApplyRequest;
}

export interface ApplyOptions {
  /** Dedup records made more than this many entries ago are forgotten (a few per entry). Default 100000. */
  horizon?: number;
}

export interface AppliedState {
  /** The last applied entry (0, 0 on a store that never applied one). */
  index: number;
  term: number;
  /** The membership of the last entry that carried one. */
  conf?: Uint8Array;
}

export const DEFAULT_DEDUP_HORIZON = 100_000;

const HAS_CONF = 1;
const HAS_REQUEST = 2;

/** Checks a call's entries (consecutive indices) and options; returns the horizon. */
export function checkApply(entries: readonly ApplyEntry[], options: ApplyOptions | undefined): number {
  if (!Array.isArray(entries)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'apply takes an array of entries');
  const horizon = options?.horizon === undefined ? DEFAULT_DEDUP_HORIZON : safe(options.horizon, 'horizon');
  entries.forEach((en, i) => {
    if (typeof en !== 'object' || en === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'an entry must be an object');
    safe(en.index, 'entry index', 1);
    safe(en.term, 'entry term');
    if (i > 0 && en.index !== entries[i - 1]!.index + 1) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `entries must have consecutive indices: ${en.index} after ${entries[i - 1]!.index}`);
    }
    if (en.conf !== undefined) bytes(en.conf, 'entry conf');
    const r = en.request;
    if (r === undefined) return;
    if (typeof r !== 'object' || r === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'an entry request must be an object');
    safe(r.client, 'request client');
    safe(r.seq, 'request seq');
    safe(r.floor, 'request floor');
    bytes(r.body, 'request body');
  });
  return horizon;
}

/** kind 5 APPLY (native/apply.h). */
export function encodeApply(e: Encoder, en: ApplyEntry, horizon: number): void {
  e.u8(RequestKind.Apply);
  e.u64(en.index);
  e.u64(en.term);
  const r = en.request;
  e.u8((en.conf ? HAS_CONF : 0) | (r ? HAS_REQUEST : 0));
  if (en.conf) e.bytes(en.conf);
  if (r) {
    e.u64(r.client);
    e.u64(r.seq);
    e.u64(r.floor);
    e.u64(horizon);
    e.bytes(r.body);
  }
}

/** An applied entry's result (after the APPLY's status byte): a view into the batch's fresh result buffer. */
export function decodeApplyResult(d: Decoder): Buffer {
  return d.bytes(d.u32());
}

/** native applied(): u64 index | u64 term | u8 hasConf | [bytes conf] */
export function decodeApplied(buf: Buffer): AppliedState {
  const d = new Decoder(buf);
  const out: AppliedState = { index: d.u64(), term: d.u64() };
  if (d.u8() === 1) out.conf = d.bytes(d.u32());
  return out;
}
