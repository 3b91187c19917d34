// Worker of realworld.mjs: our verifier's verdict on one program at a time (the CLI's input
// path, or @bpf/elf's loadPrograms with what the collection's loader sets: attach targets,
// linked-in functions). Long-lived: the CLI's modules and the kernel BTF are read once per
// worker; the parent replaces the worker when a program runs past its timeout.
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { parentPort } from 'node:worker_threads';
import { kernelProbesFor, loadProgram, kernelBtfFor, kernelSymbolsFor, nrCpuIds } from '../../../apps/cli/dist/input.js';
import { kernelKconfig } from '../../../apps/cli/dist/kconfig.js';
import { loadPrograms, parseBtfTable } from '../dist/index.js';
import { mapAddressesFromLog, needsKernelBtf, verify } from '../../verifier/dist/index.js';
import { withHostMaps } from '../../kernel/dist/index.js';
import { fileLines, firstLineDifference, firstLogDifference } from '../../testkit/dist/index.js';

let vmlinux;
/** /proc/kallsyms (typeless ksyms), read once per worker as realworld.mjs reads it. */
let kallsyms;
function kernelSymbols() {
  if (kallsyms) return kallsyms;
  kallsyms = new Map();
  try {
    for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
      const [addr, , sym] = line.split(/\s+/);
      if (sym && addr && !kallsyms.has(sym)) kallsyms.set(sym, BigInt(`0x${addr}`));
    }
  } catch {
    /* no kallsyms: typeless ksyms fail to resolve */
  }
  return kallsyms;
}
/**
 * Every program of an object as its host loader loads it: attach targets it sets (cilium/ebpf's
 * ProgramSpec.AttachTo) and functions it links in (`return 0` bodies), as realworld.mjs does.
 */
function asHostLoads(file, host) {
  const rules = host.attachTo?.map(([re, target]) => [new RegExp(re), target]);
  const ret0 = [{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
  // parsed once per worker: loadPrograms would parse the bytes again for every object
  vmlinux ??= parseBtfTable(new Uint8Array(readFileSync('/sys/kernel/btf/vmlinux')), 'kernel BTF').table;
  // the kconfig values realworld.mjs loads the object with (its ourObject)
  const kconfig = kernelKconfig();
  return loadPrograms(new Uint8Array(readFileSync(file)), {
    kernelBtf: vmlinux,
    kallsyms: kernelSymbols(),
    ...(kconfig ? { kconfig } : {}),
    ...(rules ? { attachTo: (p) => rules.find(([re]) => re.test(p.section))?.[1] } : {}),
    ...(host.functions ? { functions: new Map(host.functions.map((n) => [n, ret0])) } : {}),
    ...(host.globals ? { globals: host.globals } : {}),
    ...(host.linker ? { linker: host.linker } : {}),
    ...(host.opener ? { opener: host.opener } : {}),
    // each program loaded on its own (realworld.mjs's `alone` rows)
    ...(host.alone ? { autoload: () => false } : {}),
  });
}

/**
 * The last object's programs: the parent asks for an object's programs one after another, and
 * linking one against the kernel's BTF (CO-RE, externs) costs far more than verifying a small
 * program, so it is done once per object, not once per program.
 */
let last = { key: '', all: [] };
function programOf(file, section, prog, host) {
  const key = JSON.stringify([file, host ?? null]);
  if (last.key !== key) {
    last = { key: '', all: [] };
    last = { key, all: host?.attachTo || host?.functions || host?.globals || host?.linker || host?.alone ? asHostLoads(file, host) : loadProgram(file, host?.opener ? { opener: host.opener } : {}).all };
  }
  const program = last.all.find((p) => p.section === section && p.name === prog);
  if (!program) throw new Error(`no program ${prog} in ${section}`);
  return program;
}

parentPort.on('message', async ({ id, file, section, prog, type, host, progFlags, kernelLog, dumpTo }) => {
  try {
    const read = programOf(file, section, prog, host);
    // refused by its loader before the kernel sees it (an extern this kernel lacks, under
    // cilium/ebpf's program-by-program rules): no verdict to give
    if (read.unresolved) throw read.unresolved;
    // the license the loader passes and the map sizes it sets (falco's), as the kernel gets them
    const hosted = withHostMaps(read, { ...(host?.mapMaxEntries ? { mapMaxEntries: host.mapMaxEntries } : {}), ...(host?.mapValueSize ? { mapValueSize: host.mapValueSize } : {}), ...(host?.mapInner ? { mapInner: host.mapInner } : {}) });
    const program = host?.license !== undefined ? { ...hosted, license: host.license } : hosted;
    // as `bpf verify` asks: the kernel's symbols for typed/typeless ksyms (the kernel refuses one
    // kallsyms lacks), BPF_F_SLEEPABLE for a sleepable section (the CLI's loadOptsOf)
    // (test_loader's programs: the prog_flags it loads them with, given by the parent)
    // with the kernel's level-2 log (realworld.mjs --log-level 2): ours at level 2, and the
    // first compared line where the two part (null: none)
    // (a kernel log given as { file }: too long for a string; ours goes to dumpTo through the
    // verifier's log sink, and the two files are compared a piece at a time)
    const logLevel = kernelLog === undefined ? 0 : 2;
    const streamed = typeof kernelLog === 'object';
    const fd = streamed ? openSync(dumpTo, 'w') : undefined;
    // the helpers and kfuncs this kernel lets the program call, asked of it as `bpf verify` asks (input.ts kernelProbesFor)
    const flags = progFlags ?? (program.sleepable ? 1 << 4 : 0);
    // the expected attach type the host's loader sets, where it is not the section's
    const attach = host?.attachType !== undefined ? { attachType: host.attachType } : {};
    const probes = await kernelProbesFor(program, type, { flags, ...attach });
    let r;
    try {
      // the map addresses the kernel's log shows, printed as it prints them (a dumped log of ours is then its bytes)
      const mapAddresses = typeof kernelLog === 'string' ? mapAddressesFromLog(program, kernelLog) : undefined;
      r = verify(program, { type, ...attach, logLevel, flags, kernelBtf: kernelBtfFor(needsKernelBtf(program, type)), kernelSymbols: kernelSymbolsFor(program), nrCpuIds: nrCpuIds(), ...probes, ...(mapAddresses ? { mapAddresses } : {}), ...(streamed ? { logSink: (text) => writeSync(fd, text) } : {}) });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (dumpTo && !streamed) writeFileSync(dumpTo, r.log);
    const log2 = kernelLog === undefined ? {} : { log2: (streamed ? firstLineDifference(fileLines(dumpTo), fileLines(kernelLog.file)) : firstLogDifference(r.log, kernelLog)) ?? null };
    parentPort.postMessage({ id, accepted: r.accepted, error: r.accepted ? null : (r.error?.message ?? null), processed: r.stats?.processedInsns, ...log2 });
  } catch (e) {
    parentPort.postMessage({ id, accepted: null, error: `${e.code ?? e.name}: ${e.message}` });
  }
});
