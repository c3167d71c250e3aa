/** `axis serve` (one member) and `axis start` (a local 3-member cluster of `axis serve` processes). */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect } from '../client/index.js';
import { AxisError, ErrorCode } from '../errors/index.js';
import { type ConfigInput, readConfigFile, resolveConfig, serve } from '../server/index.js';
import { plaintextListenWarnings } from '../security/index.js';
import type { Flags } from './main.js';

/** The local cluster `axis start` runs (etcd's Procfile ports; metrics on etcd's 2381 and alike). */
export const LOCAL_CLUSTER = [
  { name: 'n1', client: 2379, peer: 2380, metrics: 2381 },
  { name: 'n2', client: 22379, peer: 22380, metrics: 22381 },
  { name: 'n3', client: 32379, peer: 32380, metrics: 32381 },
];
export const DEFAULT_ENDPOINTS = LOCAL_CLUSTER.map((m) => `tcp://127.0.0.1:${m.client}`);

/** Runs one member until SIGTERM/SIGINT; resolves -1 (the process stays up). */
export async function runServe(flags: Flags): Promise<number> {
  const input: ConfigInput = flags.config ? readConfigFile(flags.config) : {};
  const set = <K extends keyof ConfigInput>(k: K, v: ConfigInput[K] | undefined) => {
    if (v !== undefined) input[k] = v;
  };
  set('name', flags.name);
  set('dataDir', flags['data-dir']);
  set('peerListen', flags['peer-listen']);
  set('clientListen', flags['client-listen']);
  set('initialCluster', flags['initial-cluster']);
  set('tickMs', flags['tick-ms'] === undefined ? undefined : Number(flags['tick-ms']));
  set('electionTicks', flags['election-ticks'] === undefined ? undefined : Number(flags['election-ticks']));
  set('durability', flags.durability as ConfigInput['durability']);
  set('initialClusterState', flags['initial-cluster-state'] as ConfigInput['initialClusterState']);
  if (flags['cluster-id'] !== undefined) (input as Record<string, unknown>).clusterId = flags['cluster-id'];
  set('snapshotCount', flags['snapshot-count'] === undefined ? undefined : Number(flags['snapshot-count']));
  set('snapshotCatchupEntries', flags['snapshot-catchup-entries'] === undefined ? undefined : Number(flags['snapshot-catchup-entries']));
  set('quotaBackendBytes', flags['quota-backend-bytes'] === undefined ? undefined : Number(flags['quota-backend-bytes']));
  set('autoCompactionMode', flags['auto-compaction-mode'] as ConfigInput['autoCompactionMode']);
  if (flags['auto-compaction-retention'] !== undefined) (input as Record<string, unknown>).autoCompactionRetention = flags['auto-compaction-retention'];
  set('corruptCheckIntervalMs', flags['corrupt-check-interval-ms'] === undefined ? undefined : Number(flags['corrupt-check-interval-ms']));
  set('peerKeys', flags['peer-keys']);
  set('clientKeys', flags['client-keys']);
  set('insecureListen', flags['insecure-listen']);
  set('metricsListen', flags['metrics-listen']);
  set('logLevel', flags['log-level'] as ConfigInput['logLevel']);
  if (input.dataDir) input.dataDir = path.resolve(input.dataDir);
  const config = resolveConfig(input);
  for (const warning of plaintextListenWarnings(config)) console.error(`axis: ${warning}`);
  const server = await serve(config, {
    onFatal: (err) => {
      console.error(`axis: ${config.name} stopped on an unrecoverable error: ${err.message}`);
      process.exit(1);
    },
  });
  console.log(`axis: member ${config.name} (${server.member.id.toString(16)}) of cluster ${server.member.clusterId.toString(16)}: clients at ${config.clientListen}${config.clientKeys ? ' (CURVE)' : ''}, peers at ${config.peerListen}${config.peerKeys ? ' (CURVE)' : ''}${config.metricsListen ? `, metrics at ${config.metricsListen}/metrics` : ''}, data in ${config.dataDir}`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`axis: ${config.name} stopping (${signal})`);
    server.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`axis: ${config.name} did not stop cleanly: ${(err as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return -1;
}

const mainJs = path.join(path.dirname(fileURLToPath(import.meta.url)), 'main.js');

/** Prefixes a child's output lines with its name. */
function pipe(child: ChildProcess, name: string): void {
  for (const [stream, out] of [[child.stdout, process.stdout], [child.stderr, process.stderr]] as const) {
    let rest = '';
    stream?.on('data', (d: Buffer) => {
      const lines = (rest + d.toString()).split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) out.write(`[${name}] ${l}\n`);
    });
  }
}

/** `axis start`: three members as child processes; Ctrl-C stops them cleanly. */
export async function runLocalCluster(dataRoot: string): Promise<number> {
  const initial = LOCAL_CLUSTER.map((m) => `${m.name}=tcp://127.0.0.1:${m.peer}`).join(',');
  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const exits = [...children.values()].filter((c) => c.exitCode === null && c.signalCode === null).map(
      (c) => new Promise<void>((resolve) => {
        const kill = setTimeout(() => c.kill('SIGKILL'), 10000);
        c.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        c.kill('SIGTERM');
      }),
    );
    await Promise.all(exits);
    console.log('axis: the local cluster has stopped; its data stays in', path.relative(process.cwd(), dataRoot) || '.');
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));
  for (const m of LOCAL_CLUSTER) {
    const child = spawn(process.execPath, [
      mainJs, 'serve', '--name', m.name, '--data-dir', path.join(dataRoot, m.name),
      '--peer-listen', `tcp://127.0.0.1:${m.peer}`, '--client-listen', `tcp://127.0.0.1:${m.client}`,
      '--initial-cluster', initial, '--metrics-listen', `http://127.0.0.1:${m.metrics}`,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.set(m.name, child);
    pipe(child, m.name);
    child.on('exit', (code, signal) => {
      if (!stopping) {
        console.error(`axis: member ${m.name} exited (${signal ?? `code ${code}`}); stopping the local cluster`);
        void stopAll(1);
      }
    });
  }
  let client;
  try {
    client = await connect({ endpoints: DEFAULT_ENDPOINTS, timeoutMs: 20000 });
    // Wait for a leader: a write goes through once one is elected.
    const deadline = Date.now() + 20000;
    for (;;) {
      const s = await client.status();
      if (s.length === LOCAL_CLUSTER.length && s.every((x) => x.leader !== 0)) break;
      if (Date.now() > deadline) throw new AxisError(ErrorCode.UNAVAILABLE, 'the local cluster did not elect a leader in 20 s');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    console.error(`axis: the local cluster did not come up: ${(err as Error).message}`);
    await client?.close();
    await stopAll(1);
    return 1;
  }
  await client.close();
  const rel = path.relative(process.cwd(), dataRoot) || '.';
  console.log(`
Axis is running: a 3-member cluster on 127.0.0.1, data in ${rel}/n1, ${rel}/n2, ${rel}/n3.

  client endpoints: ${DEFAULT_ENDPOINTS.join(',')}
  metrics, health:  ${LOCAL_CLUSTER.map((m) => `http://127.0.0.1:${m.metrics}/metrics`).join(' ')} (and /health)

Try, in another terminal:
  npm run axis -- put greeting hello
  npm run axis -- get greeting
  npm run axis -- get greet --prefix -w json
  npm run axis -- status
  printf 'value("greeting") = "hello"\\n\\nput greeting bonjour\\n\\nget greeting\\n' | npm run axis -- txn

or from code:
  import { connect } from 'axis-kv';
  const kv = await connect({ endpoints: ['${DEFAULT_ENDPOINTS[0]}'] });
  await kv.put('greeting', 'hello');
  console.log((await kv.get('greeting'))?.value.toString());

Ctrl-C stops the cluster.`);
  return -1;
}
