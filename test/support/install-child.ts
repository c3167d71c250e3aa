/** Child for the install crash test: installs copy `argv[2]` as the store in `argv[3]` (AXIS_FAILPOINT may kill it midway). */
import { installCopy } from '../../ts/server/snapshot.js';
import { emptyConfState } from '../../ts/raft/types.js';

const [copyDir, dataDir, index, term] = process.argv.slice(2);
await installCopy(copyDir!, dataDir!, { index: Number(index), term: Number(term), conf: { ...emptyConfState(), voters: [1] } }, { term: 9, vote: 1, commit: 0 }, { durability: 'sync' });
process.stdout.write('{"op":"installed"}\n');
