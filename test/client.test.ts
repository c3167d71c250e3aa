/**
 * The cluster client against the shared KV suite: the same scenarios the embedded store passes,
 * through the wire (protobuf over ZeroMQ on 127.0.0.1) to a member that replicates through Raft.
 * Each test gets a fresh single-member cluster (it elects itself at once).
 */
import { connect } from '../ts/client/index.js';
import { tempDirs } from './support/fixtures.js';
import { kvSuite, type SuiteStore } from './support/kv-suite.js';
import { startCluster } from './support/cluster.js';

const dir = tempDirs('client');

async function fresh(): Promise<SuiteStore> {
  const cluster = await startCluster(1, dir);
  const client = await connect({ endpoints: cluster.endpoints, timeoutMs: 10000 });
  const close = client.close.bind(client);
  client.close = async () => {
    await close();
    await cluster.close();
  };
  return client;
}

kvSuite('cluster Client', fresh, { snapshots: false });
