/**
 * The fault families: each `cycle` injects one fault, holds it, and heals it (the run measures how
 * soon writes are served again from the moment it returns). A run repeats one family's cycle.
 */
import type { Client } from '../../ts/client/index.js';
import type { Proc, ProcessCluster } from './members.js';
import type { PeerFaults } from './peer-faults.js';

export interface FaultContext {
  cluster: ProcessCluster;
  faults: PeerFaults;
  rand: () => number;
  electionMs: number;
  /** A client for harness calls (member changes, move-leader, compaction). */
  admin(): Promise<Client>;
  /** Counts a fault and writes it to the history. */
  inject(kind: string, detail?: Record<string, unknown>): void;
  /** Writes something worth knowing to the history (and the console when verbose). */
  note(event: Record<string, unknown>): void;
  /** Compacts the store as far as the open epochs allow. */
  compact(): Promise<void>;
  sleep(ms: number): Promise<void>;
}

export interface Family {
  name: string;
  what: string;
  members: number;
  cycle(ctx: FaultContext): Promise<void>;
}

function pick<T>(rand: () => number, xs: T[]): T {
  return xs[Math.floor(rand() * xs.length)]!;
}

function shuffle<T>(rand: () => number, xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

/** The leader, a follower (or undefined when there is none to pick). */
async function roles(ctx: FaultContext): Promise<{ leader: Proc | undefined; followers: Proc[] }> {
  const leader = await ctx.cluster.leader(10_000);
  return { leader, followers: ctx.cluster.up().filter((p) => p !== leader) };
}

/** Restarts each member (trying again when one exits before it serves: a surprise already noted). */
async function restartAll(ctx: FaultContext, ps: Proc[], env: Record<string, string> = {}): Promise<void> {
  await Promise.all(ps.map(async (p) => {
    for (let attempt = 0; attempt < 3 && p.state === 'down'; attempt++) {
      if (await ctx.cluster.restart(p, env)) return;
      await ctx.sleep(500);
    }
  }));
}

/**
 * Whom a fault hits: the leader (with probability `leader`), else a follower (up to `follower`),
 * else a majority of the serving members.
 */
async function victims(ctx: FaultContext, leaderUpTo: number, followerUpTo: number): Promise<{ who: 'leader' | 'follower' | 'majority'; procs: Proc[] }> {
  const { leader, followers } = await roles(ctx);
  const r = ctx.rand();
  if (r < leaderUpTo && leader) return { who: 'leader', procs: [leader] };
  if (r < followerUpTo && followers.length > 0) return { who: 'follower', procs: [pick(ctx.rand, followers)] };
  const up = ctx.cluster.up();
  return { who: 'majority', procs: shuffle(ctx.rand, up).slice(0, Math.floor(up.length / 2) + 1) };
}

const kill: Family = {
  name: 'kill',
  what: 'SIGKILL the leader, a follower or a majority, restart after 0.3-3.3 s',
  members: 3,
  async cycle(ctx) {
    const { who, procs } = await victims(ctx, 0.4, 0.8);
    ctx.inject(`kill ${who}`, { members: procs.map((p) => p.name) });
    await Promise.all(procs.map((p) => ctx.cluster.kill(p)));
    await ctx.sleep(300 + ctx.rand() * 3000);
    await restartAll(ctx, procs);
  },
};

const pause: Family = {
  name: 'pause',
  what: 'SIGSTOP the leader, a follower or a majority for 1.5-4 election timeouts, then SIGCONT',
  members: 3,
  async cycle(ctx) {
    const { who, procs } = await victims(ctx, 0.5, 0.85);
    const ms = ctx.electionMs * (1.5 + ctx.rand() * 2.5);
    ctx.inject(`pause ${who}`, { members: procs.map((p) => p.name), ms: Math.round(ms) });
    for (const p of procs) ctx.cluster.pause(p);
    await ctx.sleep(ms);
    for (const p of procs) ctx.cluster.resume(p);
  },
};

const partition: Family = {
  name: 'partition',
  what: 'through the peer proxies: isolate the leader or a follower, split 2/3, one-way loss to or from the leader, lossy links, slow links',
  members: 5,
  async cycle(ctx) {
    const { leader, followers } = await roles(ctx);
    const all = ctx.cluster.members().map((p) => p.name);
    const cut = ctx.rand() < 0.5 ? { sever: true } : { drop: 1 };
    const both = (a: string[], b: string[], rule: Parameters<PeerFaults['set']>[2]) => {
      ctx.faults.set(a, b, rule);
      ctx.faults.set(b, a, rule);
    };
    const others = (xs: string[]) => all.filter((n) => !xs.includes(n));
    const scenario = pick(ctx.rand, ['isolate-leader', 'isolate-follower', 'split', 'leader-inbound', 'leader-outbound', 'lossy', 'slow']);
    const l = leader?.name ?? pick(ctx.rand, all);
    switch (scenario) {
      case 'isolate-leader':
        both([l], others([l]), cut);
        break;
      case 'isolate-follower': {
        const f = followers.length > 0 ? pick(ctx.rand, followers).name : pick(ctx.rand, others([l]));
        both([f], others([f]), cut);
        break;
      }
      case 'split': {
        // A minority of two (one with three members), the leader in it half the time.
        const rest = shuffle(ctx.rand, others([l]));
        const size = Math.floor((all.length - 1) / 2);
        const minority = ctx.rand() < 0.5 ? [l, ...rest.slice(0, size - 1)] : rest.slice(0, size);
        both(minority, others(minority), cut);
        break;
      }
      case 'leader-inbound':
        ctx.faults.set(others([l]), [l], { drop: 1 });
        break;
      case 'leader-outbound':
        ctx.faults.set([l], others([l]), { drop: 1 });
        break;
      case 'lossy':
        ctx.faults.set(all, all, { drop: 0.2 + ctx.rand() * 0.3 });
        break;
      case 'slow':
        ctx.faults.set(all, all, { delayMs: Math.round(20 + ctx.rand() * 150), drop: 0.02 });
        break;
    }
    const ms = 1500 + ctx.rand() * 4500;
    ctx.inject(`partition ${scenario}`, { leader: l, rules: ctx.faults.describe(), ms: Math.round(ms) });
    await ctx.sleep(ms);
    ctx.faults.heal();
  },
};

/**
 * JS failpoints in ts/server/member.ts (one-line calls; the `leader-` ones fire only while the
 * member leads) and the addon's. A failpoint fires the first time the process reaches it, so a
 * member is restarted with one armed; a `leader-` point waits until leadership is moved to it.
 */
export const FAILPOINTS = [
  'ready-before-persist', 'ready-after-persist', 'apply-before-reply',
  'leader-before-persist', 'leader-after-persist', 'leader-apply-before-reply',
  'snapshot-install-before-rename', 'snapshot-install-after-rename',
  'wal-synced', 'commit-visible', 'compaction-step',
];

const failpoint: Family = {
  name: 'failpoint',
  what: `kill a member, restart it with AXIS_FAILPOINT armed (${FAILPOINTS.join(', ')}), let it crash there (a leader- point once leadership is moved to it), restart it clean`,
  members: 3,
  async cycle(ctx) {
    const { leader, followers } = await roles(ctx);
    const point = pick(ctx.rand, FAILPOINTS);
    const target = ctx.rand() < 0.4 && leader ? leader : followers.length > 0 ? pick(ctx.rand, followers) : leader;
    if (!target) return;
    await ctx.cluster.kill(target);
    if (point.startsWith('snapshot-install')) {
      // It can only install a snapshot once the others' logs were compacted past it.
      const start = (await ctx.cluster.status()).reduce((m, s) => Math.max(m, s.raftIndex), 0);
      const end = Date.now() + 30_000;
      while (Date.now() < end && (await ctx.cluster.status().catch(() => [])).reduce((m, s) => Math.max(m, s.raftIndex), 0) < start + 1500) await ctx.sleep(250);
    }
    await ctx.cluster.restart(target, { AXIS_FAILPOINT: point });
    if (point === 'compaction-step') await ctx.compact().catch(() => undefined);
    const exited = target.exited!.then(() => true);
    if (point.startsWith('leader-')) {
      // Leadership moves to it once it has caught up (a transfer to a lagging member waits for it).
      for (let i = 0; i < 20 && target.state === 'up'; i++) {
        if (await Promise.race([exited, ctx.admin().then((a) => a.moveLeader(target.id)).then(() => false, () => false)])) break;
        await ctx.sleep(500);
      }
    }
    const fired = await Promise.race([exited, ctx.sleep(8000).then(() => false)]);
    ctx.inject(`failpoint ${point}${fired ? '' : ' (not reached)'}`, { member: target.name, fired });
    if (!fired) await ctx.cluster.kill(target);
    await restartAll(ctx, [target]);
  },
};

const slowDisk: Family = {
  name: 'slow-disk',
  what: 'restart one or two members with AXIS_FSYNC_DELAY_MS (5-400 ms per durable commit), sometimes move leadership to one, restart them back',
  members: 3,
  async cycle(ctx) {
    const { leader, followers } = await roles(ctx);
    const first = ctx.rand() < 0.5 && leader ? leader : pick(ctx.rand, followers.length > 0 ? followers : ctx.cluster.up());
    const slow = ctx.rand() < 0.3 ? [first, pick(ctx.rand, ctx.cluster.up().filter((p) => p !== first))] : [first];
    const delay = pick(ctx.rand, [5, 20, 50, 150, 400]);
    const bounce = async (env: Record<string, string>) => {
      for (const p of slow) {
        if (ctx.rand() < 0.5) await ctx.cluster.stop(p);
        else await ctx.cluster.kill(p);
        await restartAll(ctx, [p], env);
      }
    };
    await bounce({ AXIS_FSYNC_DELAY_MS: String(delay) });
    let moved = false;
    if (ctx.rand() < 0.5) {
      moved = await ctx.admin().then((a) => a.moveLeader(slow[0]!.id)).then(() => true, () => false);
    }
    ctx.inject('slow disk', { members: slow.map((p) => p.name), delayMs: delay, leader: moved ? slow[0]!.name : undefined });
    await ctx.sleep(3000 + ctx.rand() * 5000);
    await bounce({});
  },
};

const membership: Family = {
  name: 'membership',
  what: 'add a learner and promote it, remove a member (the leader sometimes), replace a member that lost its data, move leadership',
  members: 3,
  async cycle(ctx) {
    const size = ctx.cluster.members().length;
    const r = ctx.rand();
    const op = size <= 3 ? 'grow' : size >= 5 ? 'shrink' : r < 0.4 ? 'grow' : r < 0.8 ? 'shrink' : 'replace';
    const admin = await ctx.admin();
    const { leader } = await roles(ctx);
    if (op === 'grow' || op === 'replace') {
      if (op === 'replace') {
        const lost = pick(ctx.rand, ctx.cluster.up());
        ctx.inject('replace member', { member: lost.name, leader: lost === leader });
        await ctx.cluster.kill(lost);
        await ctx.cluster.remove(lost);
      }
      const { proc, started } = await ctx.cluster.add(true);
      if (op === 'grow') ctx.inject('add learner', { member: proc.name });
      if (started) await promote(ctx, proc);
    } else {
      const victim = ctx.rand() < 0.3 && leader ? leader : pick(ctx.rand, ctx.cluster.up().filter((p) => p !== leader));
      ctx.inject('remove member', { member: victim.name, leader: victim === leader });
      await ctx.cluster.remove(victim).catch((err: unknown) => ctx.note({ event: 'remove-failed', member: victim.name, error: String(err) }));
    }
    if (ctx.rand() < 0.5) {
      const target = pick(ctx.rand, ctx.cluster.up());
      ctx.inject('move leader', { to: target.name });
      await admin.moveLeader(target.id).catch((err: unknown) => ctx.note({ event: 'move-leader-failed', to: target.name, error: String(err) }));
    }
  },
};

/** Promotes a learner once it has caught up (AXIS_LEARNER_NOT_READY until then), up to a minute. */
async function promote(ctx: FaultContext, p: Proc): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    try {
      await (await ctx.admin()).memberPromote(p.id);
      ctx.inject('promote learner', { member: p.name });
      return;
    } catch (err) {
      if (Date.now() > end) {
        ctx.note({ event: 'promote-failed', member: p.name, error: String(err) });
        return;
      }
      await ctx.sleep(500);
    }
  }
}

export const FAMILIES: Family[] = [kill, pause, partition, failpoint, slowDisk, membership];

export function family(name: string): Family {
  const f = FAMILIES.find((x) => x.name === name);
  if (!f) throw new Error(`no fault family ${JSON.stringify(name)}; there are ${FAMILIES.map((x) => x.name).join(', ')}`);
  return f;
}
