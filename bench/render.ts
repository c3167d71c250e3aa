/**
 * Renders a results file again as its HTML report (after a change to the report's layout):
 * `node dist/bench/render.js bench/results/<date>.json` writes bench/results/<date>.html beside it.
 */
import fs from 'node:fs';
import type { FloorReport } from './floor.js';
import type { HistoryReport } from './history.js';
import { renderHtml, reportTitle, type HtmlInput } from './html.js';
import type { WorkloadsReport } from './workloads.js';

const file = process.argv[2];
if (!file || !file.endsWith('.json')) {
  process.stderr.write('usage: node dist/bench/render.js bench/results/<date>.json\n');
  process.exit(2);
}
const d = JSON.parse(fs.readFileSync(file, 'utf8')) as Omit<HtmlInput, 'title' | 'date' | 'rows'> & {
  date: string;
  startedAt: string;
  mode: string;
  figures: HtmlInput['rows'];
  workloads?: WorkloadsReport & Record<string, unknown>;
  floor?: FloorReport;
  history?: HistoryReport;
};
const out = file.replace(/\.json$/, '.html');
fs.writeFileSync(out, renderHtml({
  title: reportTitle(d.date, d.mode),
  date: d.startedAt,
  machine: d.machine,
  versions: d.versions,
  command: d.command,
  rows: d.figures,
  workloads: d.workloads?.results ? d.workloads : undefined,
  floor: d.floor?.fdatasync ? d.floor : undefined,
  history: d.history?.stages ? d.history : undefined,
  errors: d.errors,
}));
console.log(`wrote ${out}`);
