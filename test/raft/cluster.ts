/**
 * A deterministic cluster for scenario tests: every Ready is persisted at once, messages are
 * delivered in order by stabilize(), and links can be cut. Like etcd-io/raft's test network.
 */
import { Raft, type RaftConfig } from '../../ts/raft/raft.js';
import { MemoryStorage } from '../../ts/raft/storage.js';
import { decodeConfChange } from '../../ts/raft/confchange.js';
import { type CompactionPolicy, planCompaction } from '../../ts/raft/compaction.js';
import { type ConfState, type Entry, EntryType, type Message, type NodeId, type ReadState, emptyConfState } from '../../ts/raft/types.js';

export interface Member {
  id: NodeId;
  raft: Raft;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  /** The membership after the last ConfChange applied. */
  confState: ConfState | undefined;
}

export type Options = Partial<Omit<RaftConfig, 'id' | 'storage' | 'random'>> & {
  /** The initial voters (default: every id); the others start as members-to-be, outside the configuration. */
  voters?: NodeId[];
  /** Snapshot and compact the log as the application would. */
  compaction?: CompactionPolicy;
};

/** The state machine of a scenario member is its list of applied entries: a snapshot carries it whole. */
function encodeState(applied: Entry[]): Uint8Array {
  return Buffer.from(JSON.stringify(applied.map((e) => ({ ...e, data: Buffer.from(e.data).toString('base64') }))));
}

function decodeState(data: Uint8Array): Entry[] {
  const raw = JSON.parse(Buffer.from(data).toString()) as (Omit<Entry, 'data'> & { data: string })[];
  return raw.map((e) => ({ ...e, data: Buffer.from(e.data, 'base64') }));
}

export class Cluster {
  readonly members = new Map<NodeId, Member>();
  /** Messages sent and not yet delivered, in order. */
  queue: Message[] = [];
  private cut = new Set<string>();
  /** Every message delivered, for assertions about traffic. */
  delivered: Message[] = [];

  private readonly compaction: CompactionPolicy | undefined;

  constructor(ids: NodeId[], options: Options = {}, logs: Map<NodeId, Entry[]> = new Map()) {
    const { voters = ids, compaction, ...opts } = options;
    this.compaction = compaction;
    for (const id of ids) {
      const storage = new MemoryStorage();
      storage.applySnapshot({ meta: { index: 1, term: 1, confState: { ...emptyConfState(), voters } }, data: new Uint8Array() });
      const log = logs.get(id) ?? [];
      storage.append(log);
      const last = log[log.length - 1];
      storage.setHardState({ term: last ? last.term : 1, vote: 0, commit: 1 });
      // Deterministic timeouts: every node's randomized timeout is the minimum unless a test says otherwise.
      const raft = new Raft({ id, storage, electionTick: 10, heartbeatTick: 1, random: () => 0, applied: 1, ...opts });
      this.members.set(id, { id, raft, storage, applied: [], readStates: [], confState: undefined });
    }
    this.process();
  }

  get(id: NodeId): Raft {
    return this.members.get(id)!.raft;
  }

  member(id: NodeId): Member {
    return this.members.get(id)!;
  }

  /** Persists and applies every Ready; queues what they send. */
  process(): void {
    for (let round = 0; round < 100; round++) {
      let any = false;
      for (const m of this.members.values()) {
        if (!m.raft.hasReady()) continue;
        any = true;
        const rd = m.raft.ready();
        if (rd.snapshot) {
          m.storage.applySnapshot(rd.snapshot);
          m.applied = decodeState(rd.snapshot.data);
          m.confState = rd.snapshot.meta.confState;
        }
        m.storage.append(rd.entries);
        if (rd.hardState) m.storage.setHardState(rd.hardState);
        m.applied.push(...rd.committedEntries);
        for (const e of rd.committedEntries) {
          if (e.type !== EntryType.ConfChange) continue;
          m.confState = m.raft.applyConfChange(decodeConfChange(e.data));
          m.storage.setConfState(m.confState);
        }
        m.readStates.push(...rd.readStates);
        for (const msg of [...rd.messages, ...rd.messagesAfterPersist]) {
          if (!this.cut.has(`${msg.from}>${msg.to}`)) this.queue.push(msg);
        }
        m.raft.advance(rd);
        this.maybeCompact(m);
      }
      if (!any) return;
    }
    throw new Error('Ready processing did not settle');
  }

  private maybeCompact(m: Member): void {
    if (!this.compaction) return;
    const applied = m.raft.log.applied;
    const plan = planCompaction(applied, m.storage.snapshot().meta.index, m.storage.firstIndex(), this.compaction);
    if (!plan) return;
    m.storage.createSnapshot(plan.snapshotAt, m.storage.initialState().confState, encodeState(m.applied));
    m.storage.compact(plan.compactTo);
  }

  /** Delivers queued messages (and what they cause) until none is left. */
  stabilize(limit = 10_000): void {
    for (let n = 0; n < limit && this.queue.length > 0; n++) this.deliverNext();
  }

  deliverNext(): void {
    const msg = this.queue.shift();
    if (!msg) return;
    const to = this.members.get(msg.to);
    if (!to || this.cut.has(`${msg.from}>${msg.to}`)) return;
    this.delivered.push(msg);
    to.raft.step(msg);
    this.process();
  }

  campaign(id: NodeId): void {
    this.get(id).campaign();
    this.process();
    this.stabilize();
  }

  propose(id: NodeId, data: string): void {
    this.get(id).propose(Buffer.from(data));
    this.process();
    this.stabilize();
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.get(id).tick();
      this.process();
    }
  }

  /** Cuts both directions between a and b. */
  cutLink(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}>${b}`);
    this.cut.add(`${b}>${a}`);
  }

  /** Cuts `id` off from everyone. */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.cutLink(id, other);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Data of the applied normal entries that carry data (no-ops and membership changes left out). */
  appliedData(id: NodeId): string[] {
    return this.member(id).applied.filter((e) => e.type === EntryType.Normal && e.data.length > 0).map((e) => Buffer.from(e.data).toString());
  }
}

export function entries(...terms: number[]): Entry[] {
  // Entries from index 2 on (1 is the bootstrap snapshot), one per term given.
  return terms.map((term, i) => ({ index: i + 2, term, type: 0, data: Buffer.from(`e${i + 2}@${term}`) }));
}
