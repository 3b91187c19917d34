#!/usr/bin/env node
// Writes the real-world agreement table into README.md between the <!-- realworld-agreement -->
// markers: our verifier's verdict beside the running kernel's on public programs others wrote,
// as recorded by packages/elf/scripts/realworld.mjs --verifier into fixtures/realworld/*.json.
// Every difference is listed with its cause, read from realworld-causes.json beside this
// script (keys `collection/object/program`, written by whoever looked at the difference).
// Reads only the recordings; re-record to re-measure. No build needed.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const argv = process.argv.slice(2);
if (argv.length > 0) {
  // the comment at the top of this file is its manual; it takes no options
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  const end = lines.findIndex((l) => !l.startsWith('//'));
  const manual = `${lines.slice(0, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')}\n\nusage: realworld-agreement.mjs (no options)`;
  const help = argv.every((a) => a === '--help' || a === '-h');
  (help ? console.log : console.error)(help ? manual : `realworld-agreement.mjs: takes no options (${argv.join(' ')})\n\n${manual}`);
  process.exit(help ? 0 : 2);
}
const dir = join(root, 'fixtures/realworld');
const causes = JSON.parse(readFileSync(join(here, 'realworld-causes.json'), 'utf8'));
const docs = (existsSync(dir) ? readdirSync(dir) : [])
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')))
  // Only recordings made with our verifier's verdicts in them.
  .filter((d) => d.records.some((r) => r.ours !== null && r.ours !== undefined));

/** The first error line, without the instruction-number prefix some messages carry. */
const firstError = (s) => String(s ?? '').split('\n')[0].trim();
const cell = (s) => String(s).replace(/\|/g, '\\|');

const rows = [];
const diffs = [];
const total = { programs: 0, verdicts: 0, accepts: 0, rejects: 0, agree: 0, bothReject: 0, sameError: 0, noVerdict: 0, notMeasured: 0, counted: 0, sameCount: 0, log2Measured: 0, log2Same: 0, log2TooLong: 0 };
for (const d of docs) {
  // a recording made one group at a time (realworld.mjs --only) names the groups that carry
  // our verdicts; the others were recorded without them
  const measured = d.verifierGroups;
  const progs = d.records.filter((r) => r.program !== null && (measured === undefined || measured.includes(r.group)));
  // Programs our verifier was not asked about (the recording run's time budget for it was
  // spent: realworld.mjs --verifier-budget) are left out of the agreement counts; a program it
  // was asked about and did not answer in time still counts, as a difference.
  const unmeasured = (r) => r.ours == null && /^not measured/.test(r.oursError ?? '');
  const kernelDecided = progs.filter((r) => r.kernel === true || r.kernel === false);
  const withVerdict = kernelDecided.filter((r) => !unmeasured(r));
  const row = {
    collection: measured !== undefined && new Set(d.records.map((r) => r.group)).size > measured.length ? `${d.collection} (${measured.join(', ')})` : d.collection,
    programs: progs.length,
    verdicts: withVerdict.length,
    accepts: withVerdict.filter((r) => r.kernel).length,
    rejects: withVerdict.filter((r) => !r.kernel).length,
    agree: withVerdict.filter((r) => r.ours === r.kernel).length,
    bothReject: withVerdict.filter((r) => r.kernel === false && r.ours === false).length,
    sameError: withVerdict.filter((r) => r.kernel === false && r.ours === false && firstError(r.oursError) === firstError(r.kernelError)).length,
    noVerdict: progs.length - kernelDecided.length,
    notMeasured: kernelDecided.length - withVerdict.length,
    // processed-insn counts, where the recording has the kernel's (the selftests collections):
    // the same verdict and the same "processed N insns"
    counted: withVerdict.filter((r) => r.kernelProcessed !== undefined).length,
    sameCount: withVerdict.filter((r) => r.kernelProcessed !== undefined && r.ours === r.kernel && r.oursProcessed === r.kernelProcessed).length,
    // level-2 logs (recorded with realworld.mjs --log-level 2): compared, the same line for
    // line, and left out because the kernel's log does not fit its maximum log size
    log2Measured: withVerdict.filter((r) => r.log2?.same === true || r.log2?.same === false).length,
    log2Same: withVerdict.filter((r) => r.log2?.same === true).length,
    log2TooLong: withVerdict.filter((r) => r.log2?.same === null).length,
  };
  for (const k of Object.keys(total)) total[k] += row[k];
  rows.push(row);
  for (const r of withVerdict) {
    const key = `${d.collection}/${r.object}/${r.program}`;
    const kernel = r.kernel ? 'accept' : `reject: ${firstError(r.kernelError)}`;
    const ours = r.ours === true ? 'accept' : r.ours === false ? `reject: ${firstError(r.oursError)}` : `no verdict: ${firstError(r.oursError)}`;
    if (r.ours !== r.kernel || (r.kernel === false && firstError(r.oursError) !== firstError(r.kernelError)))
      diffs.push(`| ${cell(key)} | ${cell(r.type)} | ${cell(kernel)} | ${cell(ours)} | ${cell(causes[key] ?? 'not yet examined')} |`);
  }
}
/** agree/measured, with the programs whose kernel log exceeds its maximum size (left out) named. */
const log2Cell = (r) => (r.log2Measured + r.log2TooLong === 0 ? '—' : `${r.log2Same}/${r.log2Measured} (${pct(r.log2Same, r.log2Measured)})${r.log2TooLong ? `, ${r.log2TooLong} left out (kernel log too long to read or compare)` : ''}`);
const pct = (a, b) => (b === 0 ? '—' : `${((100 * a) / b).toFixed(1)}%`);
const table = `<!-- realworld-agreement -->
Generated by \`node packages/verifier/scripts/realworld-agreement.mjs\` from \`fixtures/realworld/*.json\` (recorded by
\`packages/elf/scripts/realworld.mjs --verifier\` on Linux ${[...new Set(docs.map((d) => d.kernel))].join(', ')}): public programs others wrote, loaded as their own
loader loads them. Programs the kernel refused before its verifier ran (empty log) or whose maps it would not create
have no kernel verdict and are counted apart, as are programs our verifier was not asked about because the recording run's
time budget for it was spent (\`--verifier-budget\`; a program it was asked about and did not answer in time counts as a difference).
The level-2 column (recorded with \`--log-level 2\`) counts the programs whose level-2 log is the kernel's line for line, compared as the
live tests compare them (source lines, liveness tables, func headers, the stats line and map addresses aside), of those compared;
a program whose kernel log exceeds the kernel's maximum log size, or the longest string Node can hold (about 512 MiB), is left out of it.
This is separate from the hand-written corpus above.
**${total.agree}/${total.verdicts} verdicts agree (${pct(total.agree, total.verdicts)}); ${total.sameError}/${total.bothReject} programs both reject with the same first error (${pct(total.sameError, total.bothReject)}).**

| collection | programs | kernel verdicts, ours measured (accept / reject) | no kernel verdict | kernel verdict, ours not measured | our verdict agrees | both reject: same first error | same verdict and processed insns (where recorded) | level-2 log line for line (where recorded) |
|---|---|---|---|---|---|---|---|---|
${rows.map((r) => `| ${r.collection} | ${r.programs} | ${r.verdicts} (${r.accepts} / ${r.rejects}) | ${r.noVerdict} | ${r.notMeasured} | ${r.agree}/${r.verdicts} | ${r.sameError}/${r.bothReject} | ${r.counted ? `${r.sameCount}/${r.counted}` : '—'} | ${log2Cell(r)} |`).join('\n')}
| **all** | ${total.programs} | ${total.verdicts} (${total.accepts} / ${total.rejects}) | ${total.noVerdict} | ${total.notMeasured} | ${total.agree}/${total.verdicts} | ${total.sameError}/${total.bothReject} | ${total.sameCount}/${total.counted} | ${log2Cell(total)} |

${
  diffs.length === 0
    ? 'No program differs in verdict, or in first error where both reject.\n'
    : `Every difference (verdict, or first error where both reject), with its cause:

| program | type | kernel | ours | cause |
|---|---|---|---|---|
${diffs.join('\n')}
`
}<!-- /realworld-agreement -->`;
const readmePath = join(here, '../README.md');
const readme = readFileSync(readmePath, 'utf8');
if (!readme.includes('<!-- realworld-agreement -->')) throw new Error('README.md has no <!-- realworld-agreement --> markers');
writeFileSync(readmePath, readme.replace(/<!-- realworld-agreement -->[\s\S]*<!-- \/realworld-agreement -->/, table));
console.log(`verdicts ${total.agree}/${total.verdicts}, same first error ${total.sameError}/${total.bothReject}, differences ${diffs.length}`);
