#!/usr/bin/env node
// Where two level-2 verifier logs part, read from files a piece at a time: logs of a million
// processed instructions (hundreds of megabytes) are longer than a string holds. The lines
// compared are those the live tests and realworld.mjs --log-level 2 compare (testkit's
// comparableLines); prints the index of the first compared line that differs, both lines, and
// the raw lines of each log before it (--context N, default 30). Exit 0 when the logs agree.
//   node packages/verifier/scripts/log-diff.mjs OURS KERNEL [--context N]
// The logs: realworld.mjs --log-level 2 --log-dump DIR writes both (OBJECT.PROGRAM.ours and
// .kernel), streaming the long ones.
import { parseArgs } from 'node:util';
import { fileLines, firstLineDifference } from '../../testkit/dist/index.js';

const { positionals, values } = parseArgs({ allowPositionals: true, options: { context: { type: 'string' } } });
if (positionals.length !== 2) {
  console.error('usage: log-diff.mjs OURS KERNEL [--context N]');
  process.exit(2);
}
const context = Number(values.context ?? 30);

/** The file's lines, the last `context` of them kept, and how many were read. */
function tracked(path) {
  const t = { recent: [], read: 0 };
  t.lines = (function* () {
    for (const l of fileLines(path)) {
      t.read++;
      t.recent.push(l);
      if (t.recent.length > context + 1) t.recent.shift();
      yield l;
    }
  })();
  return t;
}

const [ours, kernel] = positionals.map(tracked);
const d = firstLineDifference(ours.lines, kernel.lines);
if (d === undefined) {
  console.log(`same: ${ours.read} lines ours, ${kernel.read} the kernel's`);
  process.exit(0);
}
console.log(`first difference at compared line ${d.index} (line ${ours.read} of ours, ${kernel.read} of the kernel's)`);
console.log(`ours:   ${d.ours}`);
console.log(`kernel: ${d.kernel}`);
for (const [name, t] of [['ours', ours], ['kernel', kernel]]) {
  console.log(`\n--- ${name}, the lines up to it`);
  for (const l of t.recent) console.log(l);
}
process.exit(1);
