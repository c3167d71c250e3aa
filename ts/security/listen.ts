/**
 * Where a member may listen without keys. Without CURVE, anyone who reaches a member's port is a
 * peer or a client, so a member without --peer-keys/--client-keys listens on loopback only, unless
 * the operator says otherwise (--insecure-listen), and then it says so at start.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import type { CurveKeys } from './keys.js';

export interface ListenSettings {
  peerListen: string;
  clientListen: string;
  peerKeys?: CurveKeys | undefined;
  clientKeys?: CurveKeys | undefined;
  /** The HTTP /metrics and /health endpoint: it takes no keys, so it is open to whoever reaches it. */
  metricsListen?: string | undefined;
  insecureListen?: boolean;
}

/** Whether a tcp:// (or http://) endpoint's host is this machine only (127.0.0.0/8, ::1, localhost). */
export function isLoopback(endpoint: string): boolean {
  const host = /^(?:tcp|http):\/\/(.+):\d+$/.exec(endpoint)?.[1];
  return host === 'localhost' || host === '[::1]' || (host !== undefined && /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));
}

/**
 * The warnings to print for endpoints open to the network without keys; throws AXIS_INSECURE_LISTEN
 * for them unless `insecureListen` is set.
 */
export function plaintextListenWarnings(s: ListenSettings): string[] {
  const out: string[] = [];
  const endpoints: [string, string | undefined, CurveKeys | undefined, string | undefined, string][] = [
    ['--peer-listen', s.peerListen, s.peerKeys, '--peer-keys', 'join the cluster and send it raft messages'],
    ['--client-listen', s.clientListen, s.clientKeys, '--client-keys', 'read and write every key'],
    ['--metrics-listen', s.metricsListen, undefined, undefined, "read the member's metrics and health"],
  ];
  for (const [flag, endpoint, keys, keysFlag, risk] of endpoints) {
    if (endpoint === undefined || keys || isLoopback(endpoint)) continue;
    const what = `${flag} ${endpoint} is not a loopback address${keysFlag ? ` and ${keysFlag} is not set` : ''}: anyone who can reach it can ${risk}`;
    if (!s.insecureListen) {
      const fix = keysFlag ? `Set ${keysFlag} FILE (see axis keys), listen on 127.0.0.1,` : 'Listen on 127.0.0.1';
      throw new AxisError(ErrorCode.INSECURE_LISTEN, `${what}. ${fix} or pass --insecure-listen to accept this`);
    }
    out.push(`${ErrorCode.INSECURE_LISTEN}: warning: ${what} (--insecure-listen)`);
  }
  return out;
}
