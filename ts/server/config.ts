/**
 * A member's configuration: from `axis serve` flags or a JSON config file, checked before anything
 * starts. Member and cluster ids are derived from names and addresses, as etcd derives them, so
 * every member computes the same ids without talking.
 */
import fs from 'node:fs';
import { AxisError, ErrorCode } from '../errors/index.js';
import type { NodeId } from '../raft/types.js';
import { type CurveKeys, curveKeys, plaintextListenWarnings, readKeyFile } from '../security/index.js';
import { type LogLevel, checkLogLevel } from './logger.js';

export interface MemberConfig {
  name: string;
  dataDir: string;
  /** ZeroMQ endpoint the member receives Raft traffic on, e.g. tcp://127.0.0.1:2380. */
  peerListen: string;
  /** ZeroMQ endpoint clients talk to, e.g. tcp://127.0.0.1:2379. */
  clientListen: string;
  /** Every initial member's name and peer address (this member included). */
  initialCluster: Map<string, string>;
  /** Milliseconds per Raft tick (default 100: etcd's heartbeat interval). */
  tickMs: number;
  /** Ticks without a leader before an election (default 10: etcd's 1 s). */
  electionTicks: number;
  /** Ticks between heartbeats (default 1). */
  heartbeatTicks: number;
  /** How long a request may wait for its answer before AXIS_TIMEOUT (default 7 s). */
  requestTimeoutMs: number;
  /** 'sync' (default) or 'nosync' (tests only: survives a process crash, not an OS crash). */
  durability: 'sync' | 'nosync';
  /** How often the leader persists long leases' remaining TTL through Raft (default 5 min, etcd's). */
  leaseCheckpointIntervalMs: number;
  /** 'new' (default): the initial cluster is born with this member; 'existing': it joins a running cluster (added first with `axis member add`). */
  initialClusterState: 'new' | 'existing';
  /** The cluster's id: derived from the initial cluster when new; given (`--cluster-id`, hex, as `axis member add` prints it) when joining. */
  clusterId?: number;
  /** Raft log compaction: once the log holds more than snapshotCount + snapshotCatchupEntries entries, all but the last snapshotCatchupEntries go (etcd's 100,000 and 5,000). */
  snapshotCount: number;
  snapshotCatchupEntries: number;
  /** Past this many bytes in use, the member raises a NOSPACE alarm (default 2 GiB, etcd's). */
  quotaBackendBytes: number;
  /** Automatic compaction (off by default): 'revision' keeps the last `autoCompactionRetention` revisions; 'periodic' keeps those younger than `autoCompactionRetention` ms. */
  autoCompactionMode?: 'revision' | 'periodic';
  autoCompactionRetention?: number;
  /** How often the leader compares every member's key-space hash (0: never; default 5 min). */
  corruptCheckIntervalMs: number;
  /** The cluster's shared peer key pair (`--peer-keys FILE`): CURVE between members. */
  peerKeys?: CurveKeys;
  /** The client endpoint's key pair and the client keys it admits (`--client-keys FILE`). */
  clientKeys?: CurveKeys;
  /** Listen beyond loopback without keys (refused otherwise, AXIS_INSECURE_LISTEN). */
  insecureListen: boolean;
  /** Where to serve /metrics (Prometheus) and /health over HTTP, e.g. http://127.0.0.1:2381 (none by default). */
  metricsListen?: string;
  /** The least level logged (default 'info'). */
  logLevel: LogLevel;
}

export interface MemberInfo {
  id: NodeId;
  name: string;
  peerUrl: string;
}

/** FNV-1a, folded to 52 bits (a safe integer, never 0). */
export function hashId(text: string): number {
  let h = 0xcbf29ce484222325n;
  const prime = 0x100000001b3n;
  for (const byte of Buffer.from(text, 'utf8')) {
    h ^= BigInt(byte);
    h = (h * prime) & 0xffffffffffffffffn;
  }
  const id = Number((h ^ (h >> 52n)) & 0xfffffffffffffn);
  return id === 0 ? 1 : id;
}

export function memberId(name: string): NodeId {
  return hashId(`member:${name}`);
}

export function clusterIdOf(initialCluster: Map<string, string>): number {
  const parts = [...initialCluster].map(([n, u]) => `${n}=${u}`).sort();
  return hashId(`cluster:${parts.join(',')}`);
}

export function members(c: MemberConfig): MemberInfo[] {
  return [...c.initialCluster].map(([name, peerUrl]) => ({ id: memberId(name), name, peerUrl }));
}

function bad(message: string): AxisError {
  return new AxisError(ErrorCode.INVALID_ARGUMENT, message);
}

const ENDPOINT = /^(tcp|http):\/\/(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** tcp://host:port (ZeroMQ) or http://host:port (the metrics endpoint), in parts; an IPv6 host without brackets. */
export function parseEndpoint(url: string): { scheme: string; host: string; port: number } | undefined {
  const m = ENDPOINT.exec(url);
  return m ? { scheme: m[1]!, host: m[2]!.replace(/^\[(.*)\]$/, '$1'), port: Number(m[4]) } : undefined;
}

export function checkEndpoint(url: string, what: string, scheme: 'tcp' | 'http' = 'tcp'): string {
  const e = parseEndpoint(url);
  if (!e || e.scheme !== scheme || e.port < 1 || e.port > 65535) {
    throw bad(`${what} must look like ${scheme}://127.0.0.1:${scheme === 'tcp' ? 2379 : 2381}, not ${JSON.stringify(url)}`);
  }
  return url;
}

/** "n1=tcp://127.0.0.1:2380,n2=..." → name → peer address. */
export function parseInitialCluster(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw bad(`initial cluster entry ${JSON.stringify(part)} must be name=tcp://host:port`);
    const name = part.slice(0, eq);
    if (out.has(name)) throw bad(`member ${name} appears twice in the initial cluster`);
    out.set(name, checkEndpoint(part.slice(eq + 1), `peer address of ${name}`));
  }
  if (out.size === 0) throw bad('the initial cluster is empty');
  return out;
}

export type ConfigInput = Partial<Omit<MemberConfig, 'initialCluster' | 'peerKeys' | 'clientKeys'>> & {
  initialCluster?: string | Record<string, string>;
  /** A key file's path, or keys already read. */
  peerKeys?: string | CurveKeys;
  clientKeys?: string | CurveKeys;
};

/** Loopback, etcd's ports: where a member listens unless told otherwise. */
export const DEFAULT_PEER_LISTEN = 'tcp://127.0.0.1:2380';
export const DEFAULT_CLIENT_LISTEN = 'tcp://127.0.0.1:2379';

function keysOf(v: unknown, role: 'peer' | 'member', flag: string): CurveKeys | undefined {
  if (v === undefined) return undefined;
  return typeof v === 'string' ? readKeyFile(v, role) : curveKeys(v, role, flag);
}

function positive(v: unknown, what: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n <= 0) throw bad(`${what} must be a positive integer`);
  return n;
}

/** Checks a configuration given as flags or a parsed config file; every default filled in. */
export function resolveConfig(input: ConfigInput): MemberConfig {
  const name = input.name;
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw bad('--name must be 1-64 letters, digits, _ . or -');
  if (typeof input.dataDir !== 'string' || input.dataDir.length === 0) throw bad('--data-dir is required');
  const peerListen = checkEndpoint(String(input.peerListen ?? DEFAULT_PEER_LISTEN), '--peer-listen');
  const clientListen = checkEndpoint(String(input.clientListen ?? DEFAULT_CLIENT_LISTEN), '--client-listen');
  const peerKeys = keysOf(input.peerKeys, 'peer', '--peer-keys');
  const clientKeys = keysOf(input.clientKeys, 'member', '--client-keys');
  const insecureListen = input.insecureListen ?? false;
  if (typeof insecureListen !== 'boolean') throw bad('insecureListen must be true or false');
  const metricsListen = input.metricsListen === undefined ? undefined : checkEndpoint(String(input.metricsListen), '--metrics-listen', 'http');
  plaintextListenWarnings({ peerListen, clientListen, metricsListen, peerKeys, clientKeys, insecureListen }); // throws AXIS_INSECURE_LISTEN
  const ic = input.initialCluster;
  const initialCluster =
    ic === undefined
      ? new Map([[name, peerListen]])
      : typeof ic === 'string'
        ? parseInitialCluster(ic)
        : parseInitialCluster(Object.entries(ic).map(([n, u]) => `${n}=${u}`).join(','));
  if (!initialCluster.has(name)) throw bad(`the initial cluster does not include this member (${name})`);
  const ids = new Set<number>();
  for (const n of initialCluster.keys()) {
    const id = memberId(n);
    if (ids.has(id)) throw bad(`member names ${n} and another hash to the same id; rename one`);
    ids.add(id);
  }
  const electionTicks = positive(input.electionTicks, 'election ticks', 10);
  const heartbeatTicks = positive(input.heartbeatTicks, 'heartbeat ticks', 1);
  if (electionTicks <= heartbeatTicks) throw bad('election ticks must be more than heartbeat ticks');
  const durability = input.durability ?? 'sync';
  if (durability !== 'sync' && durability !== 'nosync') throw bad(`durability must be 'sync' or 'nosync'`);
  return {
    name,
    dataDir: input.dataDir,
    peerListen,
    clientListen,
    initialCluster,
    tickMs: positive(input.tickMs, 'tick milliseconds', 100),
    electionTicks,
    heartbeatTicks,
    requestTimeoutMs: positive(input.requestTimeoutMs, 'request timeout', 7000),
    durability,
    leaseCheckpointIntervalMs: positive(input.leaseCheckpointIntervalMs, 'lease checkpoint interval', 5 * 60 * 1000),
    ...clusterState(input),
    snapshotCount: positive(input.snapshotCount, 'snapshot count', 100_000),
    snapshotCatchupEntries: positive(input.snapshotCatchupEntries, 'snapshot catch-up entries', 5_000),
    quotaBackendBytes: positive(input.quotaBackendBytes, 'quota backend bytes', 2 * 1024 ** 3),
    ...autoCompaction(input),
    corruptCheckIntervalMs: Number(input.corruptCheckIntervalMs) === 0 ? 0 : positive(input.corruptCheckIntervalMs, 'corrupt check interval', 5 * 60 * 1000),
    ...(peerKeys ? { peerKeys } : {}),
    ...(clientKeys ? { clientKeys } : {}),
    insecureListen,
    ...(metricsListen ? { metricsListen } : {}),
    logLevel: checkLogLevel(input.logLevel),
  };
}

/** `--auto-compaction-mode revision|periodic` with `--auto-compaction-retention` (revisions, or a duration such as 1h / 30m / 90s / 500ms). */
function autoCompaction(input: ConfigInput): { autoCompactionMode?: 'revision' | 'periodic'; autoCompactionRetention?: number } {
  const mode = input.autoCompactionMode;
  const raw = input.autoCompactionRetention as unknown;
  if (mode === undefined) {
    if (raw !== undefined) throw bad('--auto-compaction-retention needs --auto-compaction-mode revision or periodic');
    return {};
  }
  if (mode !== 'revision' && mode !== 'periodic') throw bad(`auto compaction mode must be 'revision' or 'periodic'`);
  let n = NaN;
  if (typeof raw === 'number') n = raw;
  else if (typeof raw === 'string') {
    const m = /^(\d+)(ms|s|m|h)?$/.exec(raw);
    if (m) n = Number(m[1]) * (mode === 'periodic' ? { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'h']! : 1);
  }
  if (!Number.isSafeInteger(n) || n <= 0) throw bad('--auto-compaction-retention must be a positive count (revision) or a duration such as 1h (periodic)');
  return { autoCompactionMode: mode, autoCompactionRetention: n };
}

/** `--initial-cluster-state` and, when joining, the `--cluster-id` to join. */
function clusterState(input: ConfigInput): { initialClusterState: 'new' | 'existing'; clusterId?: number } {
  const state = input.initialClusterState ?? 'new';
  if (state !== 'new' && state !== 'existing') throw bad(`initial cluster state must be 'new' or 'existing'`);
  const raw = input.clusterId as unknown;
  if (state === 'new') {
    if (raw !== undefined) throw bad('--cluster-id is for a member joining an existing cluster (--initial-cluster-state existing)');
    return { initialClusterState: state };
  }
  const id = typeof raw === 'string' && /^[0-9a-fA-F]{1,13}$/.test(raw) ? parseInt(raw, 16) : typeof raw === 'number' ? raw : NaN;
  if (!Number.isSafeInteger(id) || id <= 0) throw bad('a member joining an existing cluster needs --cluster-id (hex, as `axis member add` prints it)');
  return { initialClusterState: state, clusterId: id };
}

/** Reads a JSON config file ({"name": ..., "dataDir": ..., "initialCluster": {...}, ...}). */
export function readConfigFile(file: string): ConfigInput {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  try {
    const o = JSON.parse(text) as unknown;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new Error('not a JSON object');
    return o as ConfigInput;
  } catch (err) {
    throw bad(`config file ${file} is not valid: ${(err as Error).message}`);
  }
}
