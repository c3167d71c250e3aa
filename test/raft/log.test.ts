/** The Raft log: etcd-io/raft's log tests, as tables. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RaftLog } from '../../ts/raft/log.js';
import { CompactedError, MemoryStorage } from '../../ts/raft/storage.js';
import type { Entry } from '../../ts/raft/types.js';

const ent = (index: number, term: number, data = ''): Entry => ({ index, term, type: 0, data: Buffer.from(data) });
const ents = (...pairs: [number, number][]): Entry[] => pairs.map(([i, t]) => ent(i, t));
const idxTerms = (es: Entry[]): [number, number][] => es.map((e) => [e.index, e.term]);

function logWith(stored: Entry[], unstable: Entry[] = []): RaftLog {
  const s = new MemoryStorage();
  s.append(stored);
  const log = new RaftLog(s);
  if (unstable.length) log.append(unstable);
  return log;
}

describe('RaftLog', () => {
  it('findConflict: the first entry that differs, or 0', () => {
    const log = logWith([], ents([1, 1], [2, 2], [3, 3]));
    const cases: [Entry[], number][] = [
      [[], 0],
      [ents([1, 1], [2, 2], [3, 3]), 0],
      [ents([2, 2], [3, 3]), 0],
      [ents([1, 1], [2, 2], [3, 3], [4, 4], [5, 4]), 4],
      [ents([4, 4], [5, 4]), 4],
      [ents([1, 4], [2, 4]), 1],
      [ents([2, 1], [3, 4], [4, 4]), 2],
      [ents([3, 1], [4, 2], [5, 4], [6, 4]), 3],
    ];
    for (const [input, want] of cases) assert.equal(log.findConflict(input), want, JSON.stringify(idxTerms(input)));
  });

  it('isUpToDate: a higher last term wins; on a tie, the longer log', () => {
    const log = logWith([], ents([1, 1], [2, 2], [3, 3]));
    const cases: [number, number, boolean][] = [
      [2, 4, true], [3, 4, true], [4, 4, true],
      [2, 2, false], [3, 2, false], [4, 2, false],
      [2, 3, false], [3, 3, true], [4, 3, true],
    ];
    for (const [index, term, want] of cases) assert.equal(log.isUpToDate(index, term), want, `(${index}, ${term})`);
  });

  it('maybeAppend: appends after a matching entry, replaces conflicts, moves commit', () => {
    const previous = ents([1, 1], [2, 2], [3, 3]);
    type Case = { index: number; logTerm: number; committed: number; ents: Entry[]; last?: number; commit: number; wantLog?: [number, number][] };
    const cases: Case[] = [
      // no match: nothing changes
      { index: 3, logTerm: 2, committed: 3, ents: ents([4, 4]), last: undefined, commit: 1 },
      { index: 4, logTerm: 3, committed: 3, ents: ents([5, 4]), last: undefined, commit: 1 },
      // match with the last entry
      { index: 3, logTerm: 3, committed: 3, ents: [], last: 3, commit: 3 },
      { index: 3, logTerm: 3, committed: 4, ents: [], last: 3, commit: 3 }, // commit ≤ last new
      { index: 3, logTerm: 3, committed: 2, ents: [], last: 3, commit: 2 },
      { index: 3, logTerm: 3, committed: 0, ents: [], last: 3, commit: 1 }, // never goes back
      { index: 3, logTerm: 3, committed: 4, ents: ents([4, 4]), last: 4, commit: 4 },
      { index: 3, logTerm: 3, committed: 5, ents: ents([4, 4], [5, 4]), last: 5, commit: 5 },
      // match inside: a conflict replaces the tail
      { index: 1, logTerm: 1, committed: 4, ents: ents([2, 4]), last: 2, commit: 2, wantLog: [[1, 1], [2, 4]] },
      { index: 2, logTerm: 2, committed: 3, ents: ents([3, 4]), last: 3, commit: 3, wantLog: [[1, 1], [2, 2], [3, 4]] },
      // entries we already have: no truncation
      { index: 1, logTerm: 1, committed: 3, ents: ents([2, 2]), last: 2, commit: 2, wantLog: [[1, 1], [2, 2], [3, 3]] },
    ];
    for (const c of cases) {
      const log = logWith([], previous);
      log.committed = 1;
      const last = log.maybeAppend(c.index, c.logTerm, c.committed, c.ents);
      assert.equal(last, c.last, JSON.stringify(c));
      assert.equal(log.committed, c.commit, JSON.stringify(c));
      if (c.wantLog) assert.deepEqual(idxTerms(log.slice(1, log.lastIndex() + 1)), c.wantLog);
    }
  });

  it('maybeAppend refuses to replace a committed entry', () => {
    const log = logWith([], ents([1, 1], [2, 2], [3, 3]));
    log.commitTo(2);
    assert.throws(() => log.maybeAppend(1, 1, 3, ents([2, 5])), /conflicts with committed/);
  });

  it('stableTo drops persisted unstable entries, unless their term changed since', () => {
    const log = logWith([], ents([1, 1], [2, 2]));
    log.stableTo(1, 1);
    assert.deepEqual(idxTerms(log.unstableEntries()), [[2, 2]]);
    log.stableTo(2, 1); // stale: entry 2 has term 2
    assert.deepEqual(idxTerms(log.unstableEntries()), [[2, 2]]);
    log.stableTo(2, 2);
    assert.deepEqual(log.unstableEntries(), []);
  });

  it('append truncates a conflicting unstable tail; storage and unstable read as one log', () => {
    const log = logWith(ents([1, 1], [2, 1], [3, 1]), ents([4, 1], [5, 1]));
    log.append(ents([5, 2], [6, 2]));
    assert.deepEqual(idxTerms(log.slice(1, 7)), [[1, 1], [2, 1], [3, 1], [4, 1], [5, 2], [6, 2]]);
    log.append(ents([3, 3])); // into what storage holds: unstable takes over from 3
    assert.deepEqual(idxTerms(log.slice(1, log.lastIndex() + 1)), [[1, 1], [2, 1], [3, 3]]);
    assert.deepEqual(idxTerms(log.unstableEntries()), [[3, 3]]);
  });

  it('commitTo never goes back and never past the last index', () => {
    const log = logWith([], ents([1, 1], [2, 2], [3, 3]));
    log.commitTo(3);
    log.commitTo(2);
    assert.equal(log.committed, 3);
    assert.throws(() => log.commitTo(4), /out of range/);
  });

  it('maybeCommit commits only entries of the given term (§5.4.2)', () => {
    const log = logWith([], ents([1, 1], [2, 2], [3, 3]));
    assert.equal(log.maybeCommit(2, 3), false);
    assert.equal(log.committed, 0);
    assert.equal(log.maybeCommit(3, 3), true);
    assert.equal(log.committed, 3);
  });

  it('findConflictByTerm: the largest index at or below with a term at or below', () => {
    const log = logWith([], ents([1, 1], [2, 1], [3, 3], [4, 3], [5, 5]));
    const cases: [number, number, number, number][] = [
      [5, 6, 5, 5], [5, 5, 5, 5], [5, 4, 4, 3], [5, 3, 4, 3], [5, 2, 2, 1], [5, 1, 2, 1], [5, 0, 0, 0], [3, 2, 2, 1],
    ];
    for (const [index, term, wantIndex, wantTerm] of cases) {
      assert.deepEqual(log.findConflictByTerm(index, term), { index: wantIndex, term: wantTerm }, `(${index}, ${term})`);
    }
  });

  it('after compaction: term of the dummy is known, below it is not; slices below throw Compacted', () => {
    const s = new MemoryStorage();
    s.append(ents([1, 1], [2, 1], [3, 2], [4, 2], [5, 3]));
    s.compact(3);
    const log = new RaftLog(s);
    assert.equal(log.firstIndex(), 4);
    assert.equal(log.term(3), 2);
    assert.equal(log.term(2), undefined);
    assert.equal(log.term(6), undefined);
    assert.throws(() => log.slice(3, 5), CompactedError);
    assert.deepEqual(idxTerms(log.slice(4, 6)), [[4, 2], [5, 3]]);
  });

  it('slice respects a byte limit but returns at least one entry', () => {
    const s = new MemoryStorage();
    s.append([ent(1, 1, 'aaaa'), ent(2, 1, 'bbbb')]);
    const log = new RaftLog(s);
    log.append([ent(3, 1, 'cccc'), ent(4, 1, 'dddd')]);
    assert.equal(log.slice(1, 5, 1).length, 1);
    assert.equal(log.slice(1, 5, 8).length, 2);
    assert.equal(log.slice(1, 5, 12).length, 3);
    assert.equal(log.slice(2, 5, 8).length, 2); // across storage and unstable
  });

  it('restore from a snapshot resets the log to it', () => {
    const log = logWith([], ents([1, 1], [2, 1]));
    log.restore({ meta: { index: 10, term: 4, confState: { voters: [1], votersOutgoing: [], learners: [], learnersNext: [], autoLeave: false } }, data: new Uint8Array() });
    assert.equal(log.lastIndex(), 10);
    assert.equal(log.committed, 10);
    assert.equal(log.term(10), 4);
    assert.equal(log.firstIndex(), 11);
  });

  it('nextCommittedEntries hands out committed, unapplied entries', () => {
    const log = logWith(ents([1, 1], [2, 1]), ents([3, 1]));
    assert.deepEqual(log.nextCommittedEntries(), []);
    log.commitTo(2);
    assert.deepEqual(idxTerms(log.nextCommittedEntries()), [[1, 1], [2, 1]]);
    log.appliedTo(2);
    log.commitTo(3);
    assert.deepEqual(idxTerms(log.nextCommittedEntries()), [[3, 1]]);
    assert.equal(log.hasNextCommittedEntries(), true);
  });
});
