/** A validator of etcd's watch guarantees on a recorded stream, against the change log itself. */
import assert from 'node:assert/strict';
import type { Event } from '../../ts/storage/types.js';
import type { WatchResponse } from '../../ts/storage/watch.js';

/**
 * Checks that `rs` holds exactly the change-log events matching `match` from `start` through the
 * last revision it promised, in order, without duplicates, each revision whole in one response,
 * and that no event arrives at or below a revision already promised. `truth(from, to)` reads the
 * change log.
 */
export function validateWatch(
  rs: WatchResponse[],
  start: number,
  match: (key: string) => boolean,
  truth: (from: number, to: number) => Event[],
  opts: { noPut?: boolean; noDelete?: boolean } = {},
): void {
  let promised = start - 1;
  const seen: string[] = [];
  const revisionIn = new Map<number, number>();
  rs.forEach((r, i) => {
    for (const e of r.events) {
      assert.ok(e.kv.modRevision > promised, `response ${i}: event at ${e.kv.modRevision} after promising ${promised}`);
      assert.ok(e.kv.modRevision <= r.revision, `response ${i}: event at ${e.kv.modRevision} beyond its revision ${r.revision}`);
      const at = revisionIn.get(e.kv.modRevision);
      assert.ok(at === undefined || at === i, `revision ${e.kv.modRevision} split across responses ${at} and ${i}`);
      revisionIn.set(e.kv.modRevision, i);
      seen.push(`${e.kv.modRevision}:${e.type}:${e.kv.key.toString()}:${e.kv.value.toString()}`);
    }
    assert.ok(r.revision >= promised, `response ${i}: revision went back from ${promised} to ${r.revision}`);
    promised = r.revision;
  });
  const want = truth(start, promised)
    .filter((e) => match(e.kv.key.toString()) && !(e.type === 'put' && opts.noPut) && !(e.type === 'delete' && opts.noDelete))
    .map((e) => `${e.kv.modRevision}:${e.type}:${e.kv.key.toString()}:${e.kv.value.toString()}`);
  assert.deepEqual(seen, want, 'exactly the change log, no gap, no duplicate');
}
