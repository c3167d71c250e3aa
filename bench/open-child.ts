/**
 * Figure 6's fresh process: `node dist/bench/open-child.js <dir> <key hex>` opens the store, reads the key,
 * and prints {openMs, rssBefore, rssAfter, found} as one JSON line. It loads Axis only (no lmdb-js),
 * so its RSS is the store's and Node's.
 */
import { open } from '../ts/index.js';

const [dir, keyHex] = process.argv.slice(2);
if (!dir || keyHex === undefined) {
  process.stderr.write('usage: open-child.js <dir> <key hex>\n');
  process.exit(2);
}
const key = Buffer.from(keyHex, 'hex');
const rssBefore = process.memoryUsage().rss;
const t0 = process.hrtime.bigint();
const store = await open(dir);
const kv = store.get(key);
const openMs = Number(process.hrtime.bigint() - t0) / 1e6;
const rssAfter = process.memoryUsage().rss;
await store.close();
process.stdout.write(JSON.stringify({ openMs, rssBefore, rssAfter, found: kv !== undefined }) + '\n');
