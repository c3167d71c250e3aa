/**
 * Quorums (etcd-io/raft's quorum package): a majority config decides by simple majority; a joint
 * config needs both of its majorities, which is how membership changes stay safe.
 */
import type { NodeId } from './types.js';

/** The committed index of an empty config: "everything", so a half-empty joint config acts like its other half. */
export const INFINITE_INDEX = Number.MAX_SAFE_INTEGER;

export type VoteResult = 'pending' | 'lost' | 'won';

/** The index a voter is known to have acknowledged, or undefined when nothing is known yet. */
export type AckedIndexer = (id: NodeId) => number | undefined;

/** An immutable set of voters deciding by majority. */
export class MajorityConfig implements Iterable<NodeId> {
  readonly #ids: ReadonlySet<NodeId>;

  constructor(ids: Iterable<NodeId> = []) {
    this.#ids = new Set(ids);
  }

  get size(): number {
    return this.#ids.size;
  }

  has(id: NodeId): boolean {
    return this.#ids.has(id);
  }

  [Symbol.iterator](): Iterator<NodeId> {
    return this.#ids[Symbol.iterator]();
  }

  /** The voters in ascending order. */
  ids(): NodeId[] {
    return [...this.#ids].sort(byNumber);
  }

  /** "(1 2 3)". */
  toString(): string {
    return `(${this.ids().join(' ')})`;
  }

  /** The highest index acknowledged by a majority; voters not heard from count as 0. */
  committedIndex(acked: AckedIndexer): number {
    const n = this.#ids.size;
    if (n === 0) return INFINITE_INDEX;
    const indexes = new Float64Array(n);
    let i = 0;
    for (const id of this.#ids) indexes[i++] = acked(id) ?? 0;
    indexes.sort();
    // The smallest index that n/2+1 voters have reached: count that many from the top.
    return indexes[n - (Math.floor(n / 2) + 1)] ?? 0;
  }

  /** Won once a majority said yes, lost once a majority can no longer say yes, pending otherwise. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    // An empty config wins by convention, so a half-empty joint config acts like its other half.
    if (this.#ids.size === 0) return 'won';
    let yes = 0;
    let missing = 0;
    for (const id of this.#ids) {
      const vote = votes.get(id);
      if (vote === undefined) missing++;
      else if (vote) yes++;
    }
    const quorum = Math.floor(this.#ids.size / 2) + 1;
    if (yes >= quorum) return 'won';
    if (yes + missing >= quorum) return 'pending';
    return 'lost';
  }

  /**
   * One line per voter (by id) drawing its acknowledged index as a bar whose length is the number
   * of voters with a smaller index, as etcd's Describe does; '?' marks a voter not heard from.
   */
  describe(acked: AckedIndexer): string {
    const n = this.#ids.size;
    if (n === 0) return '<empty majority quorum>';
    const rows = this.ids().map((id) => {
      const index = acked(id);
      return { id, index: index ?? 0, known: index !== undefined };
    });
    let out = `${' '.repeat(n)}    idx\n`;
    for (const row of rows) {
      const bar = rows.filter((other) => other.index < row.index).length;
      out += row.known ? `${'x'.repeat(bar)}>${' '.repeat(n - bar)}` : `?${' '.repeat(n)}`;
      out += ` ${String(row.index).padStart(5)}    (id=${row.id})\n`;
    }
    return out;
  }
}

/**
 * Two majority configs whose decisions both count: `incoming` is the config being moved to,
 * `outgoing` the one being left (empty unless a membership change is in its joint phase).
 */
export class JointConfig {
  readonly incoming: MajorityConfig;
  readonly outgoing: MajorityConfig;

  constructor(incoming: MajorityConfig = new MajorityConfig(), outgoing: MajorityConfig = new MajorityConfig()) {
    this.incoming = incoming;
    this.outgoing = outgoing;
  }

  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** A voter of either half. */
  has(id: NodeId): boolean {
    return this.incoming.has(id) || this.outgoing.has(id);
  }

  /** The voters of both halves, ascending, each once. */
  ids(): NodeId[] {
    return [...new Set([...this.incoming, ...this.outgoing])].sort(byNumber);
  }

  /** "(1 2 3)&&(1 2)" while joint, "(1 2 3)" otherwise. */
  toString(): string {
    return this.isJoint() ? `${this.incoming.toString()}&&${this.outgoing.toString()}` : this.incoming.toString();
  }

  /** An index is committed only when both halves have committed it. */
  committedIndex(acked: AckedIndexer): number {
    return Math.min(this.incoming.committedIndex(acked), this.outgoing.committedIndex(acked));
  }

  /** Won only if both halves won; lost as soon as either lost. */
  voteResult(votes: ReadonlyMap<NodeId, boolean>): VoteResult {
    const a = this.incoming.voteResult(votes);
    const b = this.outgoing.voteResult(votes);
    if (a === b) return a;
    if (a === 'lost' || b === 'lost') return 'lost';
    return 'pending';
  }

  describe(acked: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(acked);
  }
}

function byNumber(a: number, b: number): number {
  return a - b;
}
