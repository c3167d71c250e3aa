/**
 * Membership changes (etcd-io/raft's confchange package): turns a config plus a list of changes
 * into the next config, refusing any change that could break safety, either directly (a "simple"
 * change of at most one voter) or through a joint config. Also rebuilds a config from a ConfState,
 * and encodes a ConfChange for the log.
 */
import type { AxisError } from '../errors/index.js';
import { RaftErrorReason, raftError } from './errors.js';
import { JointConfig, MajorityConfig } from './quorum.js';
import { Inflights, Progress, type ProgressMap, type TrackerConfig, emptyTrackerConfig } from './tracker.js';
import { type ConfChange, type ConfChangeSingle, type ConfChangeType, type ConfState, NONE, type NodeId } from './types.js';

export { toConfState } from './tracker.js';

export interface InflightLimits {
  readonly maxInflight: number;
  readonly maxInflightBytes: number;
}

/** The membership a change starts from; a ProgressTracker is one. */
export interface Membership extends InflightLimits {
  readonly config: TrackerConfig;
  readonly progress: ReadonlyMap<NodeId, Progress>;
}

/** A new config and the Progress of every member in it; shares nothing with the input. */
export interface ConfChangeResult {
  config: TrackerConfig;
  progress: ProgressMap;
}

/**
 * Computes the config that a change leads to from `from`, never mutating it. New members start
 * probing at `lastIndex` (the leader's last log index).
 */
export class ConfChanger {
  readonly #from: Membership;
  readonly #lastIndex: number;

  constructor(from: Membership, lastIndex: number) {
    this.#from = from;
    this.#lastIndex = lastIndex;
  }

  /**
   * Enters a joint config: the outgoing half becomes a copy of the current voters, and `changes`
   * apply to the incoming half (C_old,new of the Raft thesis, section 4.3).
   */
  enterJoint(autoLeave: boolean, changes: readonly ConfChangeSingle[]): ConfChangeResult {
    const draft = this.#draft();
    if (isJoint(draft)) throw invalid('config is already joint');
    // An empty config may take additions (bootstrap, tests) but cannot be made joint.
    if (draft.incoming.size === 0) throw invalid("can't make a zero-voter config joint");
    draft.outgoing = new Set(draft.incoming);
    this.#applyChanges(draft, changes);
    draft.autoLeave = autoLeave;
    return finish(draft);
  }

  /**
   * Leaves the joint config: the incoming half decides alone (C_new), staged learners
   * (learnersNext) become learners, and members of the outgoing half only are dropped.
   */
  leaveJoint(): ConfChangeResult {
    const draft = this.#draft();
    if (!isJoint(draft)) throw invalid("can't leave a non-joint config");
    for (const id of draft.learnersNext) {
      draft.learners.add(id);
      progressOf(draft, id).isLearner = true;
    }
    draft.learnersNext.clear();
    for (const id of draft.outgoing) {
      if (!draft.incoming.has(id) && !draft.learners.has(id)) draft.progress.delete(id);
    }
    draft.outgoing.clear();
    draft.autoLeave = false;
    return finish(draft);
  }

  /** Applies `changes` directly; together they may change the voter set by at most one member. */
  simple(changes: readonly ConfChangeSingle[]): ConfChangeResult {
    const draft = this.#draft();
    if (isJoint(draft)) throw invalid("can't apply simple config change in joint config");
    this.#applyChanges(draft, changes);
    if (symmetricDifference(this.#from.config.voters.incoming, draft.incoming) > 1) {
      throw invalid('more than one voter changed without entering joint config');
    }
    return finish(draft);
  }

  /** Applies a ConfChange as Raft does on commit: leave the joint config, enter one, or change simply. */
  apply(cc: ConfChange): ConfChangeResult {
    if (leavesJoint(cc)) return this.leaveJoint();
    const joint = entersJoint(cc);
    if (joint !== undefined) return this.enterJoint(joint.autoLeave, cc.changes);
    return this.simple(cc.changes);
  }

  // A private, checked copy of the starting membership for a change to work on.
  #draft(): Draft {
    const { config, progress } = this.#from;
    const draft: Draft = {
      incoming: new Set(config.voters.incoming),
      outgoing: new Set(config.voters.outgoing),
      learners: new Set(config.learners),
      learnersNext: new Set(config.learnersNext),
      autoLeave: config.autoLeave,
      progress: new Map([...progress].map(([id, pr]) => [id, pr.clone()])),
    };
    checkInvariants(draft);
    return draft;
  }

  // Changes to voters always go to the incoming half; the outgoing half only ever keeps the old voters.
  #applyChanges(draft: Draft, changes: readonly ConfChangeSingle[]): void {
    for (const cc of changes) {
      // etcd zeroes the id of a change the application decided not to apply: skip those.
      if (cc.nodeId === NONE) continue;
      if (!isNodeId(cc.nodeId)) throw invalid(`invalid node id ${String(cc.nodeId)}`);
      switch (cc.type) {
        case 'addNode':
          this.#makeVoter(draft, cc.nodeId);
          break;
        case 'addLearner':
          this.#makeLearner(draft, cc.nodeId);
          break;
        case 'removeNode':
          remove(draft, cc.nodeId);
          break;
        default:
          throw invalid(`unexpected conf type ${String((cc as { type: unknown }).type)}`);
      }
    }
    if (draft.incoming.size === 0) throw invalid('removed all voters');
  }

  #makeVoter(draft: Draft, id: NodeId): void {
    const pr = draft.progress.get(id);
    if (pr === undefined) {
      this.#addProgress(draft, id, false);
      return;
    }
    pr.isLearner = false;
    draft.learners.delete(id);
    draft.learnersNext.delete(id);
    draft.incoming.add(id);
  }

  /**
   * Makes `id` a learner, or, while it is still a voter of the outgoing half, stages it in
   * learnersNext: a node may not be tracked as voter and learner at once.
   */
  #makeLearner(draft: Draft, id: NodeId): void {
    const pr = draft.progress.get(id);
    if (pr === undefined) {
      this.#addProgress(draft, id, true);
      return;
    }
    if (pr.isLearner) return;
    remove(draft, id);
    // Demotion keeps the Progress: the node has the log so far.
    draft.progress.set(id, pr);
    if (draft.outgoing.has(id)) {
      draft.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      draft.learners.add(id);
    }
  }

  #addProgress(draft: Draft, id: NodeId, isLearner: boolean): void {
    if (isLearner) draft.learners.add(id);
    else draft.incoming.add(id);
    draft.progress.set(
      id,
      new Progress({
        match: 0,
        // Probing starts at the last index (optimistic, as etcd); next >= 1 keeps match < next.
        next: Math.max(this.#lastIndex, 1),
        inflights: new Inflights(this.#from.maxInflight, this.#from.maxInflightBytes),
        isLearner,
        // A new member counts as active, so CheckQuorum does not depose the leader before it answers.
        recentActive: true,
      }),
    );
  }
}

/**
 * Rebuilds the config a ConfState describes, starting from nothing: the outgoing voters are added
 * one by one, then (when joint) the joint config is entered with the incoming voters and learners.
 */
export function restore(confState: ConfState, lastIndex: number, limits: InflightLimits): ConfChangeResult {
  const { outgoing, incoming } = changesToRebuild(confState);
  let current: ConfChangeResult = { config: emptyTrackerConfig(), progress: new Map() };
  const step = (op: (changer: ConfChanger) => ConfChangeResult): void => {
    const from: Membership = { ...current, maxInflight: limits.maxInflight, maxInflightBytes: limits.maxInflightBytes };
    current = op(new ConfChanger(from, lastIndex));
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step((changer) => changer.simple([cc]));
  } else {
    for (const cc of outgoing) step((changer) => changer.simple([cc]));
    step((changer) => changer.enterJoint(confState.autoLeave, incoming));
  }
  return current;
}

/**
 * The changes that rebuild `cs` from an empty config: `outgoing` builds the config to be left;
 * `incoming`, applied on entering the joint config, removes those voters, then adds the incoming
 * voters, the learners, and the learnersNext (which, still outgoing voters, get staged).
 * E.g. voters=(1 2 3) outgoing=(1 2 4 6) learners=(5) learnersNext=(4): outgoing = v1 v2 v4 v6;
 * incoming = r1 r2 r4 r6 v1 v2 v3 l5 l4, giving (1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4).
 */
function changesToRebuild(cs: ConfState): { outgoing: ConfChangeSingle[]; incoming: ConfChangeSingle[] } {
  const change = (type: ConfChangeType) => (nodeId: NodeId): ConfChangeSingle => ({ type, nodeId });
  return {
    outgoing: cs.votersOutgoing.map(change('addNode')),
    incoming: [
      ...cs.votersOutgoing.map(change('removeNode')),
      ...cs.voters.map(change('addNode')),
      ...cs.learners.map(change('addLearner')),
      ...cs.learnersNext.map(change('addLearner')),
    ],
  };
}

/** The empty ConfChange (transition 'auto', no changes) asks to leave the joint config; context aside. */
export function leavesJoint(cc: ConfChange): boolean {
  return cc.transition === 'auto' && cc.changes.length === 0;
}

/**
 * Whether applying `cc` goes through a joint config, and if so whether it leaves it by itself:
 * 'auto' uses one only for more than one change and then leaves automatically, 'implicit' always
 * uses one and leaves automatically, 'explicit' always uses one and waits for an empty ConfChange.
 */
export function entersJoint(cc: ConfChange): { autoLeave: boolean } | undefined {
  switch (cc.transition) {
    case 'auto':
      return cc.changes.length > 1 ? { autoLeave: true } : undefined;
    case 'implicit':
      return { autoLeave: true };
    case 'explicit':
      return { autoLeave: false };
    default:
      throw invalid(`unknown conf change transition ${String((cc as { transition: unknown }).transition)}`);
  }
}

// The working copy a change mutates; turned into an immutable TrackerConfig by finish().
interface Draft {
  incoming: Set<NodeId>;
  outgoing: Set<NodeId>;
  learners: Set<NodeId>;
  learnersNext: Set<NodeId>;
  autoLeave: boolean;
  progress: ProgressMap;
}

function isJoint(draft: Draft): boolean {
  return draft.outgoing.size > 0;
}

/** Removes `id` as voter or learner from the incoming config; its Progress stays while it is an outgoing voter. */
function remove(draft: Draft, id: NodeId): void {
  if (!draft.progress.has(id)) return;
  draft.incoming.delete(id);
  draft.learners.delete(id);
  draft.learnersNext.delete(id);
  if (!draft.outgoing.has(id)) draft.progress.delete(id);
}

function progressOf(draft: Draft, id: NodeId): Progress {
  const pr = draft.progress.get(id);
  if (pr === undefined) throw invalid(`no progress for ${id}`);
  return pr;
}

/** Checks that the config and the progress map agree; run on every input and every output. */
function checkInvariants(draft: Draft): void {
  for (const ids of [draft.incoming, draft.outgoing, draft.learners, draft.learnersNext]) {
    for (const id of ids) progressOf(draft, id);
  }
  // A staged learner is staged only because it is still an outgoing voter.
  for (const id of draft.learnersNext) {
    if (!draft.outgoing.has(id)) throw invalid(`${id} is in learnersNext, but not in the outgoing voters`);
    if (progressOf(draft, id).isLearner) throw invalid(`${id} is in learnersNext, but is already marked as learner`);
  }
  // Learners and voters never overlap, so a node's role never depends on the joint state.
  for (const id of draft.learners) {
    if (draft.outgoing.has(id)) throw invalid(`${id} is in learners and in the outgoing voters`);
    if (draft.incoming.has(id)) throw invalid(`${id} is in learners and in the incoming voters`);
    if (!progressOf(draft, id).isLearner) throw invalid(`${id} is in learners, but is not marked as learner`);
  }
  if (!isJoint(draft)) {
    if (draft.learnersNext.size > 0) throw invalid('learnersNext must be empty when not joint');
    if (draft.autoLeave) throw invalid('autoLeave must be false when not joint');
  }
}

function finish(draft: Draft): ConfChangeResult {
  checkInvariants(draft);
  return {
    config: {
      voters: new JointConfig(new MajorityConfig(draft.incoming), new MajorityConfig(draft.outgoing)),
      autoLeave: draft.autoLeave,
      learners: draft.learners,
      learnersNext: draft.learnersNext,
    },
    progress: draft.progress,
  };
}

/** |a \ b| + |b \ a|. */
function symmetricDifference(a: Iterable<NodeId> & { has(id: NodeId): boolean }, b: Set<NodeId>): number {
  let n = 0;
  for (const id of a) if (!b.has(id)) n++;
  for (const id of b) if (!a.has(id)) n++;
  return n;
}

function isNodeId(id: unknown): id is NodeId {
  return typeof id === 'number' && Number.isSafeInteger(id) && id >= 0;
}

function invalid(message: string): AxisError {
  return raftError(RaftErrorReason.CONF_CHANGE_INVALID, message);
}

/*
 * ConfChange encoding, version 1. Integers are unsigned LEB128 varints in their shortest form, at
 * most 2^53-1; the numbering of transitions and types is etcd's raftpb.
 *
 *   u8      version = 1
 *   u8      transition: 0 auto, 1 implicit, 2 explicit
 *   varint  number of changes
 *   each:   u8 type (0 addNode, 1 removeNode, 3 addLearner; 2, etcd's updateNode, is not accepted)
 *           varint nodeId
 *   u8      0: no context, 1: context follows as varint length + bytes
 *
 * Nothing may follow; decoding rejects anything else with reason 'conf-change-malformed', so every
 * accepted encoding is the one encodeConfChange produces.
 */
const ENCODING_VERSION = 1;
const TRANSITION_CODES = ['auto', 'implicit', 'explicit'] as const satisfies readonly ConfChange['transition'][];
const TYPE_CODES: Readonly<Record<ConfChangeType, number>> = { addNode: 0, removeNode: 1, addLearner: 3 };
const TYPES_BY_CODE: ReadonlyMap<number, ConfChangeType> = new Map(
  Object.entries(TYPE_CODES).map(([type, code]) => [code, type as ConfChangeType]),
);
const MAX_VARINT_BYTES = 8; // 8 × 7 bits cover 2^53-1

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const out: number[] = [ENCODING_VERSION];
  const transition = TRANSITION_CODES.indexOf(cc.transition);
  if (transition < 0) throw invalid(`unknown conf change transition ${String(cc.transition)}`);
  out.push(transition);
  pushVarint(out, cc.changes.length);
  for (const change of cc.changes) {
    const code = Object.hasOwn(TYPE_CODES, change.type) ? TYPE_CODES[change.type] : undefined;
    if (code === undefined) throw invalid(`unexpected conf type ${String(change.type)}`);
    if (!isNodeId(change.nodeId)) throw invalid(`invalid node id ${String(change.nodeId)}`);
    out.push(code);
    pushVarint(out, change.nodeId);
  }
  if (cc.context === undefined) {
    out.push(0);
    return Uint8Array.from(out);
  }
  out.push(1);
  pushVarint(out, cc.context.length);
  const bytes = new Uint8Array(out.length + cc.context.length);
  bytes.set(out);
  bytes.set(cc.context, out.length);
  return bytes;
}

export function decodeConfChange(bytes: Uint8Array): ConfChange {
  const reader = new ByteReader(bytes);
  const version = reader.byte('version');
  if (version !== ENCODING_VERSION) throw malformed(`unknown encoding version ${version}`);
  const transitionCode = reader.byte('transition');
  const transition = TRANSITION_CODES[transitionCode];
  if (transition === undefined) throw malformed(`unknown transition code ${transitionCode}`);
  const count = reader.varint('change count');
  // Each change takes at least two bytes: a bigger count cannot be honest, so allocate nothing for it.
  if (count > reader.remaining / 2) throw malformed(`change count ${count} exceeds the ${reader.remaining} bytes left`);
  const changes: ConfChangeSingle[] = [];
  for (let i = 0; i < count; i++) {
    const typeCode = reader.byte('change type');
    const type = TYPES_BY_CODE.get(typeCode);
    if (type === undefined) throw malformed(`unknown change type code ${typeCode}`);
    changes.push({ type, nodeId: reader.varint('node id') });
  }
  const cc: ConfChange = { transition, changes };
  const hasContext = reader.byte('context flag');
  if (hasContext === 1) {
    const length = reader.varint('context length');
    cc.context = reader.take(length, 'context');
  } else if (hasContext !== 0) {
    throw malformed(`bad context flag ${hasContext}`);
  }
  if (reader.remaining > 0) throw malformed(`${reader.remaining} trailing bytes`);
  return cc;
}

function pushVarint(out: number[], value: number): void {
  let v = value;
  // Bounded: a safe integer has at most 8 groups of 7 bits.
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}

class ByteReader {
  readonly #bytes: Uint8Array;
  #offset = 0;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get remaining(): number {
    return this.#bytes.length - this.#offset;
  }

  byte(what: string): number {
    const b = this.#bytes[this.#offset];
    if (b === undefined) throw malformed(`truncated at ${what}`);
    this.#offset++;
    return b;
  }

  varint(what: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < MAX_VARINT_BYTES; i++) {
      const b = this.byte(what);
      value += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        // A zero final group after others is a longer spelling of a shorter varint.
        if (b === 0 && i > 0) throw malformed(`${what} is not minimally encoded`);
        if (!Number.isSafeInteger(value)) throw malformed(`${what} exceeds 2^53-1`);
        return value;
      }
      scale *= 0x80;
    }
    throw malformed(`${what} is longer than ${MAX_VARINT_BYTES} bytes`);
  }

  take(length: number, what: string): Uint8Array {
    if (length > this.remaining) throw malformed(`truncated at ${what}: ${length} bytes declared, ${this.remaining} left`);
    const out = this.#bytes.slice(this.#offset, this.#offset + length);
    this.#offset += length;
    return out;
  }
}

function malformed(message: string): AxisError {
  return raftError(RaftErrorReason.CONF_CHANGE_MALFORMED, `malformed conf change: ${message}`);
}
