/** Applies write requests to a store one Raft entry at a time, as a cluster member would. */
import { type ApplyEntry, type Store, type WriteRequest, decodeWriteResult, encodeWrite } from '../../ts/storage/index.js';

export interface EntryApplier {
  /** Applies `r` as the next entry from `client`, with a new sequence number or `reuseSeq` (a retry). */
  apply<R extends WriteRequest>(r: R, client?: number, reuseSeq?: number): Promise<ReturnType<typeof decodeWriteResult<R>>>;
  /** The last sequence number used. */
  seq(): number;
  /** The last entry index applied. */
  index(): number;
}

export function entryApplier(s: Store): EntryApplier {
  let index = s.applied().index;
  let seq = 0;
  return {
    async apply<R extends WriteRequest>(r: R, client = 1, reuseSeq?: number) {
      const entry: ApplyEntry = { index: ++index, term: 1, request: { client, seq: reuseSeq ?? ++seq, floor: 0, body: encodeWrite(r) } };
      const [result] = await s.apply([entry]);
      return decodeWriteResult(r, result!);
    },
    seq: () => seq,
    index: () => index,
  };
}
