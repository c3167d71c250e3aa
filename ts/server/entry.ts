/**
 * What a client write becomes in the Raft log: who asked (client, seq) so that a retry is applied
 * once, how far the client has its answers (floor), and the store's own packed write request.
 *
 *   u8 version (1) | u64 client | u64 seq | u64 floor | body (ts/storage encodeWrite)
 *
 * An entry with no data is a leader's no-op.
 */
import { AxisError, ErrorCode } from '../errors/index.js';

const VERSION = 1;
const HEADER = 1 + 8 * 3;
const TWO32 = 4294967296;

export interface WriteEntry {
  client: number;
  seq: number;
  floor: number;
  body: Uint8Array;
}

function put64(b: Buffer, at: number, v: number): void {
  b.writeUInt32LE(v % TWO32, at);
  b.writeUInt32LE(Math.floor(v / TWO32), at + 4);
}

function get64(b: Buffer, at: number): number {
  return b.readUInt32LE(at) + b.readUInt32LE(at + 4) * TWO32;
}

export function encodeEntry(e: WriteEntry): Buffer {
  const b = Buffer.allocUnsafe(HEADER + e.body.length);
  b[0] = VERSION;
  put64(b, 1, e.client);
  put64(b, 9, e.seq);
  put64(b, 17, e.floor);
  b.set(e.body, HEADER);
  return b;
}

export function decodeEntry(data: Uint8Array): WriteEntry {
  const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (b.length < HEADER || b[0] !== VERSION) {
    // Every member applies the same log: a member that cannot read an entry must stop, not skip it.
    throw new AxisError(ErrorCode.INTERNAL, `a log entry of unknown format (version ${b[0]}, ${b.length} bytes)`);
  }
  return { client: get64(b, 1), seq: get64(b, 9), floor: get64(b, 17), body: b.subarray(HEADER) };
}
