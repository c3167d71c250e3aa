/**
 * Observability: each member's /metrics (Prometheus text) and /health over HTTP on 127.0.0.1, and its
 * log as JSON lines with named events. In-process members over an in-memory peer network (clients
 * over ZeroMQ), each logging to a list this test reads; one `axis serve` process for the flags.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../ts/client/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { type ConfigInput, HealthCheck, type MemberStatus, memberId, resolveConfig } from '../ts/server/index.js';
import { tempDirs, until } from './support/fixtures.js';
import { type Node as GrowingNode, GrowingCluster } from './support/growing-cluster.js';
import { freePorts } from './support/ports.js';

const dir = tempDirs('observability');
const mainJs = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'ts', 'cli', 'main.js');

interface LogLine {
  level: number;
  time: string;
  member: string;
  msg: string;
  event?: string;
  [field: string]: unknown;
}

type Node = GrowingNode & { metricsUrl: string; log: string[] };

/** Three members, each serving /metrics and keeping what it logs; `restart(i)` starts member i again on its data. */
async function cluster(overrides: Partial<ConfigInput> = {}): Promise<{ c: GrowingCluster; nodes: Node[]; restart(i: number): Promise<void> }> {
  const c = await GrowingCluster.create(dir, 3, 0, overrides, { observe: true });
  clusters.push(c);
  const initial = c.nodes.map((x) => `${x.name}=${x.peerUrl}`).join(',');
  return { c, nodes: c.nodes as Node[], restart: async (i) => void (await c.start(i, initial, 'new')) };
}

/** The index of the member every running member names leader. */
function leader(c: GrowingCluster): Promise<number> {
  return until('one leader', 20_000, () => {
    const ids = new Set(c.running().map((x) => x.server!.member.leaderId));
    const [id] = ids;
    return ids.size === 1 && id ? c.nodes.findIndex((x) => memberId(x.name) === id) : undefined;
  });
}

/** The sum of a metric's samples whose labels include `labels` (0 when it has none). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const has = Object.entries(labels).every(([k, v]) => (m[2] ?? '').includes(`${k}="${v}"`));
    if (has) sum += Number(m[3]);
  }
  return sum;
}

async function scrape(x: Node): Promise<string> {
  const r = await fetch(`${x.metricsUrl}/metrics`);
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type') ?? '', /^text\/plain/);
  return r.text();
}

async function health(x: Node): Promise<{ status: number; body: { health: boolean; reason?: string; leader: string; appliedIndex: number; commitIndex: number } }> {
  const r = await fetch(`${x.metricsUrl}/health`);
  return { status: r.status, body: (await r.json()) as { health: boolean; reason?: string; leader: string; appliedIndex: number; commitIndex: number } };
}

function parsed(x: Node): LogLine[] {
  return x.log.map((l) => JSON.parse(l) as LogLine);
}

function events(x: Node, event: string): LogLine[] {
  return parsed(x).filter((l) => l.event === event);
}

const clusters: GrowingCluster[] = [];
after(async () => {
  for (const c of clusters) await c.close();
});

describe('observability', { timeout: 120_000 }, () => {
  it('/metrics counts proposals, leader changes, latencies, db size, watches, leases and peer round trips', async () => {
    const { c, nodes } = await cluster();
    const lead = await leader(c);
    const cl = await c.client();
    const before = await Promise.all(nodes.map(scrape));
    for (const [i, text] of before.entries()) {
      assert.equal(sample(text, 'axis_server_has_leader'), 1, c.nodes[i]!.name);
      assert.equal(sample(text, 'axis_server_is_leader'), i === lead ? 1 : 0, c.nodes[i]!.name);
      assert.ok(sample(text, 'axis_mvcc_db_total_size_in_bytes') > 0);
      assert.ok(sample(text, 'axis_mvcc_db_total_size_in_use_in_bytes') > 0);
      assert.ok(sample(text, 'axis_server_leader_changes_seen_total') >= 1, 'the first leader is a change');
      assert.ok(sample(text, 'process_resident_memory_bytes') > 0, 'and the process metrics prom-client collects');
    }

    for (let i = 0; i < 20; i++) await cl.put(`k${i}`, `v${i}`);
    const { id: lease } = await cl.leaseGrant(3600);
    const watcher = await c.client([c.nodes[(lead + 1) % 3]!.clientUrl]);
    const w = watcher.watch('k', { prefix: true });
    await cl.put('k-last', 'x');
    await c.converge();
    const after = await Promise.all(nodes.map(scrape));
    for (const [i, text] of after.entries()) {
      const name = c.nodes[i]!.name;
      // 20 puts, a lease grant and a put: at least 22 entries committed and applied everywhere.
      assert.ok(sample(text, 'axis_server_proposals_applied_total') >= sample(before[i]!, 'axis_server_proposals_applied_total') + 22, name);
      assert.ok(sample(text, 'axis_server_proposals_committed_total') >= sample(before[i]!, 'axis_server_proposals_committed_total') + 22, name);
      assert.ok(sample(text, 'axis_server_apply_duration_seconds_count') > sample(before[i]!, 'axis_server_apply_duration_seconds_count'), name);
      assert.ok(sample(text, 'axis_disk_persist_duration_seconds_count') > sample(before[i]!, 'axis_disk_persist_duration_seconds_count'), name);
      assert.equal(sample(text, 'axis_server_leases'), 1, name);
      assert.equal(sample(text, 'axis_server_proposals_failed_total'), 0, name);
    }
    assert.equal(sample(after[(lead + 1) % 3]!, 'axis_mvcc_watcher_total'), 1, 'the watch is on the member its client talks to');
    assert.equal(sample(after[(lead + 2) % 3]!, 'axis_mvcc_watcher_total'), 0);
    // The leader times its heartbeats to each follower.
    for (const f of [1, 2].map((d) => (lead + d) % 3)) {
      const to = memberId(c.nodes[f]!.name).toString(16);
      assert.ok(sample(after[lead]!, 'axis_network_peer_round_trip_time_seconds_count', { to }) > 0, `round trips to ${to}`);
    }
    w.cancel();
    await cl.leaseRevoke(lease);

    // A transfer: every member sees one more leader, and logs it.
    const target = (lead + 1) % 3;
    const changesBefore = (await Promise.all(nodes.map(scrape))).map((t) => sample(t, 'axis_server_leader_changes_seen_total'));
    await cl.moveLeader(memberId(c.nodes[target]!.name));
    assert.equal(await leader(c), target);
    const changesAfter = (await Promise.all(nodes.map(scrape))).map((t) => sample(t, 'axis_server_leader_changes_seen_total'));
    for (let i = 0; i < 3; i++) assert.ok(changesAfter[i]! > changesBefore[i]!, `${c.nodes[i]!.name} counted the new leader`);
    assert.equal(sample(await scrape(nodes[target]!), 'axis_server_is_leader'), 1);
  });

  it('/health: 200 with a leader and applying, 503 once quorum is lost', async () => {
    // Writes that cannot be committed are given up on (and counted) after 2 s.
    const { c, nodes, restart } = await cluster({ requestTimeoutMs: 2000 });
    await leader(c);
    const cl = await c.client();
    await cl.put('a', '1');
    await c.converge();
    for (const x of nodes) {
      const h = await health(x);
      assert.equal(h.status, 200, JSON.stringify(h.body));
      assert.equal(h.body.health, true);
      assert.notEqual(h.body.leader, '0');
      assert.ok(h.body.appliedIndex >= h.body.commitIndex);
    }
    assert.equal((await fetch(`${nodes[0]!.metricsUrl}/nothing`)).status, 404);
    assert.equal((await fetch(`${nodes[0]!.metricsUrl}/health`, { method: 'POST' })).status, 405);

    await c.stop(1);
    await c.stop(2);
    // The last member loses its leader (CheckQuorum, or an election it cannot win).
    const down = await until('the lone member to report no leader', 20_000, async () => {
      const h = await health(nodes[0]!);
      return h.status === 503 ? h : undefined;
    });
    assert.equal(down.body.health, false);
    assert.equal(down.body.reason, 'no leader');
    assert.equal(down.body.leader, '0');
    assert.equal(sample(await scrape(nodes[0]!), 'axis_server_has_leader'), 0);
    // A write through it cannot be committed: counted as failed once the member gives up on it.
    const lone = await connect({ endpoints: [nodes[0]!.clientUrl], timeoutMs: 1500, attemptTimeoutMs: 1000 });
    await assert.rejects(lone.put('b', '2'), (e) => isAxisError(e) && ([ErrorCode.TIMEOUT, ErrorCode.NO_LEADER, ErrorCode.UNAVAILABLE] as string[]).includes(e.code));
    await lone.close();
    await until('the member to count the failed write', 10_000, async () => (sample(await scrape(nodes[0]!), 'axis_server_proposals_failed_total') >= 1 ? true : undefined));
    const lostLeader = events(nodes[0]!, 'leader-changed').filter((l) => l.leader === '0');
    assert.ok(lostLeader.length >= 1, 'losing the leader is logged');
    assert.equal(lostLeader.at(-1)!.level, 40, 'as a warning');

    // Quorum back: healthy again.
    await restart(1);
    await until('the member to be healthy again', 20_000, async () => ((await health(nodes[0]!)).status === 200 ? true : undefined));
  });

  it('logs one JSON line per leader change, snapshot, compaction and membership change', async () => {
    const { c, nodes, restart } = await cluster();
    const lead = await leader(c);
    const cl = await c.client();
    for (const x of nodes) {
      const lines = parsed(x);
      assert.ok(lines.length > 0);
      for (const l of lines) {
        assert.equal(l.member, x.name);
        assert.equal(typeof l.level, 'number');
        assert.ok(!Number.isNaN(Date.parse(l.time)), l.time);
        assert.equal(typeof l.msg, 'string');
      }
      const changed = events(x, 'leader-changed').at(-1)!;
      assert.equal(changed.leader, memberId(nodes[lead]!.name).toString(16));
      assert.equal(changed.self, x === nodes[lead]);
      assert.equal(typeof changed.term, 'number');
    }

    // A member misses more than the log keeps: the leader sends it a snapshot, which it installs.
    const lagging = (lead + 1) % 3;
    await c.stop(lagging);
    let last = { revision: 0 };
    for (let i = 0; i < 80; i++) last = await cl.put(`k${i % 7}`, `v${i}`);
    await until('the leader to compact its log', 20_000, () => (events(nodes[lead]!, 'log-compacted').length > 0 ? true : undefined));
    await restart(lagging);
    await c.converge();
    const installed = await until('the snapshot to be installed', 20_000, () => events(nodes[lagging]!, 'snapshot-installed')[0]);
    assert.ok((installed.index as number) > 40);
    assert.equal(events(nodes[lagging]!, 'snapshot-pulling').length, 1);
    const sent = events(nodes[lead]!, 'snapshot-sent');
    assert.equal(sent.length, 1);
    assert.equal(sent[0]!.to, memberId(nodes[lagging]!.name).toString(16));
    assert.ok((sent[0]!.bytes as number) > 0);
    const compacted = events(nodes[lead]!, 'log-compacted')[0]!;
    assert.ok((compacted.index as number) > 0);
    assert.equal(compacted.kept, 10);

    // A store compaction is applied, and logged, on every member.
    await cl.compact(last.revision);
    await c.converge();
    for (const x of nodes) {
      const lines = events(x, 'store-compacted');
      assert.equal(lines.length, 1, x.name);
      assert.equal(lines[0]!.revision, last.revision);
    }

    // A membership change is one line on the leader.
    await cl.memberAdd({ name: 'o9', peerUrl: 'tcp://127.0.0.1:9', learner: true });
    const added = events(nodes[lead]!, 'member-added');
    assert.equal(added.length, 1);
    assert.equal(added[0]!.name, 'o9');
    assert.equal(added[0]!.learner, true);
    await cl.memberRemove(memberId('o9'));
    assert.equal(events(nodes[lead]!, 'member-removed')[0]!.name, 'o9');
  });

  it('an alarm raised and disarmed is one line on every member, as it is applied', async () => {
    // Every member is over a 1-byte quota at once: each raises NOSPACE for itself.
    const { c, nodes } = await cluster({ quotaBackendBytes: 1, corruptCheckIntervalMs: 0 });
    await leader(c);
    const cl = await c.client();
    const ids = nodes.map((x) => memberId(x.name).toString(16));
    for (const x of nodes) {
      await until(`${x.name} to log every member's alarm`, 20_000, () => (ids.every((id) => events(x, 'alarm-raised').some((l) => l.for === id)) ? true : undefined));
      for (const l of events(x, 'alarm-raised')) {
        assert.equal(l.alarm, 'NOSPACE');
        assert.equal(l.level, 40, 'a warning');
      }
    }
    await cl.alarmDisarm({ type: 'NOSPACE' });
    for (const x of nodes) await until(`${x.name} to log the disarm`, 20_000, () => events(x, 'alarm-disarmed')[0]);
    const disarmed = events(nodes[0]!, 'alarm-disarmed');
    assert.ok(disarmed.every((l) => l.alarm === 'NOSPACE' && ids.includes(l.for as string) && l.level === 30));
  });

  it("/health's rule: unhealthy without a leader, when applying stalls behind the commit index, or once the member failed", () => {
    const s = { leader: 7, term: 2, commitIndex: 10, appliedIndex: 10 } as MemberStatus;
    const member = { status: () => s, failed: undefined as Error | undefined };
    const h = new HealthCheck(member, 1000, 0);
    assert.deepEqual(h.check(0), { health: true, leader: '7', term: 2, commitIndex: 10, appliedIndex: 10 });
    s.commitIndex = 20; // behind, but not for long
    assert.equal(h.check(900).health, true);
    s.appliedIndex = 15; // moving
    assert.equal(h.check(1800).health, true);
    const stalled = h.check(2900);
    assert.equal(stalled.health, false);
    assert.equal(stalled.reason, 'applied index 15 has not moved toward commit index 20 for 1100 ms');
    s.appliedIndex = 20; // caught up: however long it took
    assert.equal(h.check(9000).health, true);
    s.leader = 0;
    assert.equal(h.check(9001).reason, 'no leader');
    s.leader = 7;
    member.failed = new Error('disk full');
    assert.equal(h.check(9002).reason, 'stopped: disk full');
  });

  it('configuration: --metrics-listen is http:// on loopback unless --insecure-listen; the log level is checked', () => {
    const base = { name: 'n1', dataDir: '/nonexistent', peerListen: 'tcp://127.0.0.1:2380', clientListen: 'tcp://127.0.0.1:2379' };
    assert.equal(resolveConfig({ ...base, metricsListen: 'http://127.0.0.1:2381' }).metricsListen, 'http://127.0.0.1:2381');
    assert.equal(resolveConfig(base).metricsListen, undefined);
    assert.throws(() => resolveConfig({ ...base, metricsListen: 'tcp://127.0.0.1:2381' }), (e) => isAxisError(e, ErrorCode.INVALID_ARGUMENT) && /--metrics-listen must look like http:\/\/127\.0\.0\.1:2381/.test(e.message));
    assert.throws(() => resolveConfig({ ...base, metricsListen: 'http://0.0.0.0:2381' }), (e) => isAxisError(e, ErrorCode.INSECURE_LISTEN) && /--metrics-listen http:\/\/0\.0\.0\.0:2381 is not a loopback address/.test(e.message));
    assert.equal(resolveConfig({ ...base, metricsListen: 'http://0.0.0.0:2381', insecureListen: true }).metricsListen, 'http://0.0.0.0:2381');
    assert.equal(resolveConfig(base).logLevel, 'info');
    assert.equal(resolveConfig({ ...base, logLevel: 'debug' }).logLevel, 'debug');
    assert.throws(() => resolveConfig({ ...base, logLevel: 'loud' as 'info' }), (e) => isAxisError(e, ErrorCode.INVALID_ARGUMENT) && /log level must be one of/.test(e.message));
  });

  it('axis serve --metrics-listen: /health and /metrics over HTTP, the startup line on stdout, JSON log lines on stderr', async () => {
    const [peer, client, metrics] = await freePorts(3);
    const metricsUrl = `http://127.0.0.1:${metrics}`;
    const child = spawn(process.execPath, [
      mainJs, 'serve', '--name', 'solo', '--data-dir', await dir(), '--peer-listen', `tcp://127.0.0.1:${peer}`,
      '--client-listen', `tcp://127.0.0.1:${client}`, '--metrics-listen', metricsUrl, '--tick-ms', '20', '--durability', 'nosync',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await until('the member to start', 30_000, () => (out.includes(`metrics at ${metricsUrl}/metrics`) ? true : undefined));
      const h = await until('a healthy member', 20_000, async () => {
        const r = await fetch(`${metricsUrl}/health`);
        return r.status === 200 ? ((await r.json()) as { health: boolean }) : undefined;
      });
      assert.equal(h.health, true);
      assert.equal(sample(await (await fetch(`${metricsUrl}/metrics`)).text(), 'axis_server_has_leader'), 1);
      const lines = err.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as LogLine);
      const leader = lines.find((l) => l.event === 'leader-changed');
      assert.ok(leader, err);
      assert.equal(leader.member, 'solo');
      assert.equal(leader.self, true);
      assert.equal(leader.level, 30);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, err);
    }
  });
});
