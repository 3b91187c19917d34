#!/usr/bin/env node
// Real-world objects: load every program of every object under --from DIR the way its own
// loader would (iproute2, samples/bpf's bpf_load.c, libbpf 0.x / 1.x rules) through @bpf/elf +
// @bpf/kernel, and record, per program:
//   kernel  — the running kernel's verdict,
//   loader  — whether @bpf/elf reaches the verifier (or the loader error),
//   cli     — `bpf kernel load OBJECT --section S --prog P --type T`'s verdict (run in-process),
//   ours    — @bpf/verifier's verdict (reported only; with --verifier).
// Writes fixtures/realworld/<name>.json (names and verdicts only) and the table between the
// <!-- realworld --> markers of packages/elf/README.md.
//
//   node packages/elf/scripts/realworld.mjs --from /work/realworld/ebpf-samples [--verifier]
//
// DIR holds one directory per collection (the layout of github.com/vbpf/ebpf-samples); objects
// are read from there and never copied into the repository. Build first: pnpm exec tsc -b.
// Needs root (BPF_PROG_LOAD).
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { loadPrograms, parseElf } from '../dist/index.js';
import { loadWithMaps } from '../../kernel/dist/index.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const { values: args } = parseArgs({
  options: {
    from: { type: 'string' },
    name: { type: 'string' },
    verifier: { type: 'boolean' },
    'verifier-timeout': { type: 'string' },
    only: { type: 'string' },
    'no-write': { type: 'boolean' },
  },
});
if (!args.from) {
  console.error('usage: realworld.mjs --from DIR [--name NAME] [--verifier] [--only GROUP]');
  process.exit(2);
}
const name = args.name ?? basename(args.from);

/**
 * How each collection's own loader types a program whose section libbpf does not name. Keys
 * are collection directories; `sections` match whole section names (regular expressions),
 * `type` is the rest. These are the types their authors load them with (the tc / ip commands
 * of their scripts, OVS's and Suricata's loaders).
 */
const LOADERS = {
  // cilium's iproute2-era objects: every section with `tc filter add ... bpf obj X sec S`,
  // bpf_xdp with `ip link set ... xdp obj`.
  cilium: { loader: 'iproute2', type: 'sched_cls', sections: [[/^from-netdev$/, 'sched_cls']], objects: { 'bpf_xdp.o': 'xdp', 'bpf_xdp_dsr_linux.o': 'xdp', 'bpf_xdp_dsr_linux_v1.o': 'xdp', 'bpf_xdp_dsr_linux_v1_1.o': 'xdp', 'bpf_xdp_snat_linux.o': 'xdp', 'bpf_xdp_snat_linux_v1.o': 'xdp' } },
  'cilium-core': { loader: 'cilium/ebpf', type: 'sched_cls' },
  'cilium-examples': { loader: 'cilium/ebpf', type: 'sched_cls' },
  falco: { loader: 'falco', type: 'raw_tracepoint' },
  // samples/bpf: bpf_load.c by prefix; the tc / lwt ones through iproute2.
  linux: { loader: 'bpf_load', type: 'sched_cls', sections: [[/^len_hist$/, 'lwt_xmit'], [/^(xdp_mark)$/, 'xdp']] },
  new_linux: { loader: 'libbpf', type: 'sched_cls' },
  ovs: { loader: 'ovs', type: 'sched_cls', sections: [[/^(xdp|af_xdp)$/, 'xdp']] },
  'prototype-kernel': { loader: 'bpf_load', type: 'sched_cls' },
  // Suricata: socket filters (cluster_ebpf, "filter"/"loadbalancer"), bypass_filter through tc.
  suricata: { loader: 'suricata', type: 'socket_filter', objects: { 'bypass_filter.o': 'sched_cls' } },
  // PREVAIL's own test objects (written for its checker, some for another OS's contexts).
  build: { loader: 'prevail', type: 'xdp' },
};

const VMLINUX = '/sys/kernel/btf/vmlinux';
const vmlinux = existsSync(VMLINUX) ? new Uint8Array(readFileSync(VMLINUX)) : undefined;
const kallsyms = new Map();
try {
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym && addr && !kallsyms.has(sym)) kallsyms.set(sym, BigInt(`0x${addr}`));
  }
} catch {
  /* no kallsyms: typeless ksyms fail to resolve */
}

function typeOf(group, object, p) {
  if (p.type) return p.type;
  const l = LOADERS[group] ?? { type: 'socket_filter' };
  const byObject = l.objects?.[object];
  if (byObject) return byObject;
  for (const [re, t] of l.sections ?? []) if (re.test(p.section)) return t;
  return l.type;
}

/** Our programs for an object: with the kernel's BTF when it has something to resolve, else without. */
function ourPrograms(bytes) {
  try {
    return loadPrograms(bytes, vmlinux ? { kernelBtf: vmlinux, kallsyms } : {});
  } catch (e) {
    const plain = loadPrograms(bytes);
    if (plain.some((p) => p.relocs.some((r) => r.kind === 'kfunc' || r.kind === 'ksym') || p.attachTo !== undefined)) throw e;
    return plain;
  }
}

const short = (s) => String(s ?? '').split('\n')[0].slice(0, 160);

/** `bpf kernel load`, in this process: the CLI's own code path, output captured. */
async function cliLoad(file, p, type) {
  const { main } = await import('../../../apps/cli/dist/index.js');
  const argv = ['kernel', 'load', file, '--section', p.section, '--prog', p.name, '--type', type, '--json', '--log-level', '1'];
  const out = [], err = [];
  const ow = process.stdout.write, ew = process.stderr.write;
  process.stdout.write = (c) => (out.push(String(c)), true);
  process.stderr.write = (c) => (err.push(String(c)), true);
  let code;
  try {
    code = await main(argv);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  if (code === 0 || code === 1) {
    try {
      const j = JSON.parse(out.join(''));
      return { accepted: j.accepted, error: j.error ?? null };
    } catch {
      /* fall through */
    }
  }
  return { accepted: null, error: short(err.join('') || `exit ${code}`) };
}

/** Our verifier in a worker, so a runaway program costs a timeout and not the run. */
function ourVerdict(file, p, type, timeoutMs) {
  return new Promise((resolve) => {
    const w = new Worker(new URL('./realworld-verify.worker.mjs', import.meta.url), { workerData: { file, section: p.section, prog: p.name, type } });
    const t = setTimeout(() => {
      void w.terminate();
      resolve({ accepted: null, error: `timeout ${timeoutMs} ms` });
    }, timeoutMs);
    w.once('message', (m) => {
      clearTimeout(t);
      void w.terminate();
      resolve(m);
    });
    w.once('error', (e) => {
      clearTimeout(t);
      resolve({ accepted: null, error: short(e.message) });
    });
  });
}

const groups = readdirSync(args.from, { withFileTypes: true })
  .filter((d) => d.isDirectory() && (args.only === undefined || d.name === args.only))
  .map((d) => d.name)
  .sort();
const records = [];
for (const group of groups) {
  const dir = join(args.from, group);
  const objects = readdirSync(dir).filter((f) => f.endsWith('.o')).sort();
  for (const object of objects) {
    const file = join(dir, object);
    const bytes = new Uint8Array(readFileSync(file));
    let progs;
    try {
      parseElf(bytes);
      progs = ourPrograms(bytes);
    } catch (e) {
      records.push({ group, object, program: null, section: null, type: null, loader: `${e.code ?? 'error'}: ${short(e.message)}`, kernel: null, cli: null, ours: null });
      console.log(`${group}/${object}: loader error ${e.message}`);
      continue;
    }
    for (const p of progs) {
      const type = typeOf(group, object, p);
      const rec = { group, object, program: p.name, section: p.section, type, loader: 'ok', kernel: null, kernelError: null, cli: null, cliError: null, ours: null, oursError: null };
      let load;
      try {
        load = loadWithMaps(p, { type, logLevel: 1, logSize: 1 << 24 });
        rec.kernel = load.accepted;
        rec.kernelError = load.accepted ? null : short(load.error);
      } catch (e) {
        // A map the kernel refuses, or a load that never reached the verifier.
        rec.kernel = false;
        rec.kernelError = short(`${e.code ?? ''} ${e.message}`);
      } finally {
        load?.close();
      }
      const cli = await cliLoad(file, p, type);
      rec.cli = cli.accepted;
      rec.cliError = cli.accepted === false ? short(cli.error) : cli.accepted === null ? cli.error : null;
      if (args.verifier) {
        const ours = await ourVerdict(file, p, type, Number(args['verifier-timeout'] ?? 60000));
        rec.ours = ours.accepted;
        rec.oursError = ours.accepted ? null : short(ours.error);
      }
      records.push(rec);
      console.log(`${group}/${object} ${p.section} ${p.name} [${type}]: kernel ${rec.kernel ? 'accept' : `reject (${rec.kernelError})`}; cli ${rec.cli}${args.verifier ? `; ours ${rec.ours}` : ''}`);
    }
  }
}

// The table: per collection, objects, programs, how many the kernel verifies, how many of
// those reach our verifier (no loader error), `bpf kernel load` agreeing with the kernel, and
// (when measured) our verifier's verdict agreeing.
const rows = [];
const total = { objects: 0, programs: 0, kernelOk: 0, reached: 0, reachedOfOk: 0, cliAgree: 0, oursAgree: 0, oursMeasured: 0, loaderErrors: 0 };
for (const group of groups) {
  const rs = records.filter((r) => r.group === group);
  const objs = new Set(rs.map((r) => r.object)).size;
  const progs = rs.filter((r) => r.program !== null);
  const row = {
    group,
    loader: LOADERS[group]?.loader ?? '?',
    objects: objs,
    programs: progs.length,
    loaderErrors: rs.filter((r) => r.program === null).length,
    kernelOk: progs.filter((r) => r.kernel === true).length,
    reachedOfOk: progs.filter((r) => r.kernel === true && r.loader === 'ok').length,
    cliAgree: progs.filter((r) => r.cli === r.kernel).length,
    oursMeasured: progs.filter((r) => r.ours !== null).length,
    oursAgree: progs.filter((r) => r.ours !== null && r.ours === r.kernel).length,
  };
  for (const k of Object.keys(total)) if (typeof row[k] === 'number') total[k] += row[k];
  rows.push(row);
}
const ours = (r) => (args.verifier ? `${r.oursAgree}/${r.programs}` : '—');
const table = [
  '<!-- realworld -->',
  `Generated by \`node packages/elf/scripts/realworld.mjs --from DIR${args.verifier ? ' --verifier' : ''}\` over ${name} (public objects others built; not in this repository),`,
  `on Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}; the verdicts are in the repository's \`fixtures/realworld/${name}.json\` (a path, not a link: this README is also the npm package's).`,
  '',
  '| collection | loader rules | objects | programs | kernel verifies | of those, reach our verifier | `bpf kernel load` agrees | our verifier agrees |',
  '|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.group} | ${r.loader} | ${r.objects} | ${r.programs}${r.loaderErrors ? ` (+${r.loaderErrors} objects refused)` : ''} | ${r.kernelOk} | ${r.reachedOfOk}/${r.kernelOk} | ${r.cliAgree}/${r.programs} | ${ours(r)} |`),
  `| **all** | | ${total.objects} | ${total.programs} | ${total.kernelOk} | ${total.reachedOfOk}/${total.kernelOk} | ${total.cliAgree}/${total.programs} | ${args.verifier ? `${total.oursAgree}/${total.programs}` : '—'} |`,
  '<!-- /realworld -->',
].join('\n');
console.log(table);
if (!args['no-write']) {
  mkdirSync(join(root, 'fixtures/realworld'), { recursive: true });
  writeFileSync(
    join(root, `fixtures/realworld/${name}.json`),
    JSON.stringify({ generatedBy: 'packages/elf/scripts/realworld.mjs', collection: name, kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(), records }, null, 1) + '\n',
  );
  const readmePath = join(here, '../README.md');
  const readme = readFileSync(readmePath, 'utf8');
  if (readme.includes('<!-- realworld -->')) writeFileSync(readmePath, readme.replace(/<!-- realworld -->[\s\S]*<!-- \/realworld -->/, table));
}
