#!/usr/bin/env node
// Real-world objects: load every program of every object under --from DIR the way its own
// loader would (iproute2, samples/bpf's bpf_load.c, libbpf 0.x / 1.x rules) through @bpf/elf +
// @bpf/kernel, and record, per program:
//   kernel  — the running kernel's verdict,
//   loader  — whether @bpf/elf reaches the verifier (or the loader error),
//   cli     — `bpf kernel load OBJECT --section S --prog P --type T`'s verdict (run in-process),
//   ours    — @bpf/verifier's verdict (reported only; with --verifier),
//   log2    — with --log-level 2: whether our level-2 verifier log is the kernel's line for
//             line (compared as the verifier's live tests compare them: @bpf/testkit's
//             comparableLines), and if not the first line where they part.
// Writes fixtures/realworld/<collection>.json (names, types and verdicts only) and the table
// between the <!-- realworld --> markers of packages/elf/README.md, which covers every JSON in
// fixtures/realworld (not only the ones this run wrote).
//
//   node packages/elf/scripts/realworld.mjs --from DIR [--verifier]   (DIR: e.g. a checkout of vbpf/ebpf-samples)
//       DIR is one collection (named after DIR, or --name) whose subdirectories are groups
//       (the layout of github.com/vbpf/ebpf-samples): one JSON, a table row per group; with
//       --only GROUP the JSON's other groups are kept as they were recorded.
//   ... --objects REGEX
//       records only the objects whose path (under the group) matches; the collection's other
//       records are kept as they were recorded.
//   ... --programs REGEX
//       records only the programs whose name matches (of the objects --objects picks, if given).
//   node packages/elf/scripts/realworld.mjs --from DIR --each [--only NAME] [--verifier]
//       each subdirectory of DIR is a collection of its own (objects compiled from one public
//       project): one JSON and one table row per collection; --only picks one.
//   ... --verifier-budget SECONDS
//       our verifier is not asked about the programs reached after SECONDS of this run; such a
//       program keeps its earlier record when that one has our verdict (same kernel verdict),
//       else it is recorded as not measured.
//   ... --log-level 2
//       also loads each program that gets a kernel verdict again at log level 2 (the buffer
//       grown until the whole log fits, up to the kernel's maximum log size) and verifies it
//       with our verifier at level 2; records log2: { same: true } or { same: false, line, ours,
//       kernel } (the first compared line where the logs part, its index among the compared
//       lines), or { same: null, why } when the kernel's log does not fit its maximum size
//       (left out of the level-2 counts). With --log-dump DIR both logs of each compared
//       program are written there (OBJECT.PROGRAM.kernel, .ours) for reading. Logs over 128 MiB
//       are compared streamed from files (both written a piece at a time); where two such logs
//       part, with context: packages/verifier/scripts/log-diff.mjs.
//   The collection's JSON is written after every program: a run stopped half way keeps what it
//   recorded, and another run with --programs (the others) completes it.
//   node packages/elf/scripts/realworld.mjs --table
//       only rewrites the README table from the JSONs in fixtures/realworld.
//
// Objects are the *.o / *.elf files under a collection (searched recursively); they are read
// from there and never copied into the repository. Objects built to be statically linked first
// (LINKED below: what their build runs `bpftool gen object OUT A.o B.o` on) are linked here with
// @bpf/elf's linkObjects and recorded as one object named `A.o+B.o`; A.o and B.o are not
// recorded alone (their authors never load them alone: their externs resolve only in the link). Build first: pnpm exec tsc -b. Needs root
// (BPF_PROG_LOAD).
//
// A rejection with an empty verifier log (the kernel refused before its verifier ran: an
// attribute checked first, a capability, a security module's bpf_prog_load hook) or a log
// with no error line (refused before the code was walked), and a map the
// kernel would not create are not verdicts on the code: such programs get kernel: null and
// kernelRefused says why; agreement counts leave them out.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { btfExtRecords, indexByName, linkObjects, loadObject, loadPrograms, parseBtfTable, parseElf, parseElfFile } from '../dist/index.js';
import { btfString } from '../../btf/dist/index.js';
import { createMaps, loadWithMaps, possibleCpus } from '../../kernel/dist/index.js';
import { kernelKconfig } from '../../../apps/cli/dist/kconfig.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '../../..');
const { values: args } = parseArgs({
  options: {
    from: { type: 'string' },
    name: { type: 'string' },
    verifier: { type: 'boolean' },
    'verifier-timeout': { type: 'string' },
    // 2: compare our level-2 log with the kernel's, line for line (see above)
    'log-level': { type: 'string' },
    'log-dump': { type: 'string' },
    // seconds of this run after which our verifier is no longer asked (the kernel's and the
    // CLI's verdicts are still recorded): for collections whose programs take our verifier
    // minutes each; such records say so and the agreement table leaves them out
    'verifier-budget': { type: 'string' },
    only: { type: 'string' },
    // re-record only the objects whose path matches; the collection's other records are kept
    objects: { type: 'string' },
    // re-record only the programs whose name matches (in the objects --objects picks)
    programs: { type: 'string' },
    'no-write': { type: 'boolean' },
    each: { type: 'boolean' },
    // rewrite the README table from fixtures/realworld/*.json without recording anything
    table: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  },
});
if (args.help) {
  // the comment at the top of this file is its manual
  const lines = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1);
  const end = lines.findIndex((l) => !l.startsWith('//'));
  console.log(lines.slice(0, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
if (!args.from && !args.table) {
  console.error('usage: realworld.mjs --from DIR [--name NAME | --each] [--verifier] [--log-level 2] [--only GROUP] [--objects RE] [--programs RE] | --table | --help');
  process.exit(2);
}
if (args['log-level'] !== undefined && args['log-level'] !== '2') {
  console.error('realworld.mjs: --log-level takes 2 (level-2 logs compared line for line)');
  process.exit(2);
}

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
  // falco's (sysdig's) scap_bpf.c of the probe_version era: every program with license "GPL"
  // (it reads no license section), and the per-CPU maps declared with max_entries 0 sized to
  // one entry per CPU before they are created. It patches only map relocations; the calls to
  // memset this build of the probe has are left to the kernel, which refuses them either way.
  falco: { loader: 'falco', type: 'raw_tracepoint', license: 'GPL', mapMaxEntries: { perf_map: 'ncpus', local_state_map: 'ncpus', frame_scratch_map: 'ncpus', tmp_scratch_map: 'ncpus' } },
  // samples/bpf: bpf_load.c by prefix; the tc / lwt ones through iproute2.
  linux: { loader: 'bpf_load', type: 'sched_cls', sections: [[/^len_hist$/, 'lwt_xmit'], [/^(xdp_mark)$/, 'xdp']] },
  new_linux: { loader: 'libbpf', type: 'sched_cls' },
  ovs: { loader: 'ovs', type: 'sched_cls', sections: [[/^(xdp|af_xdp)$/, 'xdp']] },
  'prototype-kernel': { loader: 'bpf_load', type: 'sched_cls' },
  // Suricata: socket filters (cluster_ebpf, "filter"/"loadbalancer"), bypass_filter through tc.
  suricata: { loader: 'suricata', type: 'socket_filter', objects: { 'bypass_filter.o': 'sched_cls' } },
  // PREVAIL's own test objects (written for its checker, some for another OS's contexts).
  build: { loader: 'prevail', type: 'xdp' },
  // Collections compiled from public sources (--each): libbpf 1.x section rules.
  'libbpf-bootstrap': { loader: 'libbpf', type: 'socket_filter' },
  // netdata/ebpf-co-re (netdata's eBPF collector, CO-RE objects): libbpf skeletons; netdata's
  // ebpf.plugin turns on the probes or the trampolines of each thread it runs
  // (bpf_program__set_autoload), so `alone`: each program loaded on its own.
  'netdata-ebpf-co-re': { loader: 'libbpf', type: 'socket_filter', alone: true },
  // lizrice/learning-ebpf (the "Learning eBPF" book's examples): bpftool prog load and libbpf
  // skeletons, libbpf's rules
  'learning-ebpf': { loader: 'libbpf', type: 'socket_filter' },
  // eunomia-bpf/bpf-developer-tutorial: each lesson's *.bpf.c, built by libbpf-bootstrap
  // Makefiles (bpftool gen object) and loaded through its libbpf skeleton, run without options.
  // `hosts`: the stack trace maps the tools size before loading (bpf_map__set_value_size /
  // set_max_entries): perf_max_stack_depth (127) frames of 8 bytes, and memleak's
  // stack_map_max_entries (10240) or the profilers' stack_storage_size (1024) entries.
  'bpf-tutorial': {
    loader: 'libbpf',
    type: 'socket_filter',
    hosts: {
      '16-memleak__memleak.bpf.o': { mapMaxEntries: { stack_traces: 10240 }, mapValueSize: { stack_traces: 127 * 8 } },
      '32-wallclock-profiler__offcputime.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
      '32-wallclock-profiler__oncputime.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
    },
  },
  // bcc's libbpf-tools (iovisor/bcc libbpf-tools/*.bpf.c): libbpf skeletons. A tool picks
  // fentry/fexit or kprobe programs at run time (bpf_program__set_autoload), so `alone`: each
  // program is loaded on its own, both variants recorded, and an fentry target this kernel
  // lacks refuses that program only (libbpf looks targets up for the programs it loads).
  // `hosts`: the sizes each tool gives its maps before loading, run without options: a stack
  // trace map's values sized to perf_max_stack_depth (127) frames of 8 bytes, and
  // stack_storage_size (1024; memleak's stack_map_max_entries 10240) entries
  // (bpf_map__set_value_size / set_max_entries); cpudist's maps sized to pid_max and 1.
  'bcc-libbpf-tools': {
    loader: 'libbpf',
    type: 'socket_filter',
    alone: true,
    hosts: {
      'capable.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
      'cpudist.bpf.o': { mapMaxEntries: { start: 'pid_max', hists: 1 } },
      'futexctn.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
      'memleak.bpf.o': { mapMaxEntries: { stack_traces: 10240 }, mapValueSize: { stack_traces: 127 * 8 } },
      'offcputime.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
      'profile.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
      'wakeuptime.bpf.o': { mapMaxEntries: { stackmap: 1024 }, mapValueSize: { stackmap: 127 * 8 } },
    },
  },
  // inspektor-gadget's gadgets (gadgets/*/program.bpf.c, built as its gadget builder builds
  // them; all 42, trace_lsm's 147 LSM programs and the GPU/CUDA gadgets included): `ig run` loads
  // them with cilium/ebpf, a map M declared with max_entries 0 sized to
  // the gadget parameter M_max_entries (pkg/operators/ebpf/ebpf.go): ig_build_id of
  // gadget/user_stack_map.h, its parameter's default 1024.
  'inspektor-gadget': {
    loader: 'cilium/ebpf',
    type: 'socket_filter',
    hosts: Object.fromEntries(['audit_seccomp', 'profile_cpu', 'profile_cuda', 'trace_capabilities', 'trace_gpu_starvation', 'trace_malloc', 'trace_open'].map((g) => [`${g}.bpf.o`, { mapMaxEntries: { ig_build_id: 1024 } }])),
  },
  // aquasecurity/tracee (pkg/ebpf/c/tracee.bpf.c and lsmsupport/*.bpf.c, built as its Makefile
  // builds them): libbpfgo (libbpf 1.x rules). Tracee opens tracee.bpf.o with every program's
  // autoload off and turns it on for the probes its selected events need
  // (NewDefaultProbeGroup(..., defaultAutoload false), setProgramsAutoload), so `alone`: each
  // program is loaded on its own, as one event set would load it. The lsmsupport objects are
  // loaded whole (lsm_support.go runCheckForModule: one program each).
  tracee: { loader: 'libbpf', type: 'socket_filter', alone: true },
  // xdp-project/xdp-tools (built as its lib/common.mk builds it): xdp-filter, xdp-dump's XDP
  // program, libxdp's dispatcher and AF_XDP default program are loaded by libxdp; xdp-bench,
  // xdp-forward, xdp-monitor and xdp-trafficgen by their skeletons (libbpf 1.x). Those that
  // count with lib/util/xdp_sample.c call sample_init_pre_load before loading: nr_cpus set to
  // the possible CPUs, the counters sized per CPU (sample_setup_maps: times
  // XDP_REDIRECT_ERR_MAX 7 or XDP_ACTION_MAX 5, CPUs squared for cpumap_enqueue_cnt, one per
  // receive queue for rxq_cnt: 1 here, no interface named); xdp_redirect_cpumap.c sizes cpu_map
  // and cpus_available to the CPUs too. `xdpdump -i IF` attaches its fentry/fexit programs to
  // the XDP program running on IF (bpf_program__set_attach_target with its fd and function):
  // xdp-filter's, as after `xdp-filter load IF`.
  'xdp-tools': {
    loader: 'libxdp',
    type: 'xdp',
    hosts: Object.fromEntries([
      ['xdp-dump_xdpdump_bpf.o', { attachProg: 'xdp-filter_xdpfilt_alw_all.o:xdpfilt_alw_all' }],
      ...['xdp-bench_xdp_basic', 'xdp-bench_xdp_redirect_basic', 'xdp-bench_xdp_redirect_cpumap', 'xdp-bench_xdp_redirect_devmap', 'xdp-bench_xdp_redirect_devmap_multi', 'xdp-monitor_xdp_monitor', 'xdp-trafficgen_xdp_trafficgen'].map((o) => [
        `${o}.bpf.o`,
        {
          set: { nr_cpus: 'ncpus' },
          mapMaxEntries: {
            rx_cnt: 'ncpus',
            cpumap_kthread_cnt: 'ncpus',
            devmap_xmit_cnt: 'ncpus',
            rxq_cnt: 1,
            redir_err_cnt: (n) => 7 * n,
            exception_cnt: (n) => 5 * n,
            cpumap_enqueue_cnt: (n) => n * n,
            ...(o.endsWith('cpumap') ? { cpu_map: 'ncpus', cpus_available: 'ncpus' } : {}),
          },
        },
      ]),
    ]),
  },
  // cloudflare/ebpf_exporter (examples/ and benchmark/probes/, built as their Makefiles build
  // them, with its own vmlinux.h and libbpf v1.5.0): the exporter opens each object with libbpfgo
  // and loads it whole (bpf_object__load). Its bpf-jit config also sets kaddr_bpf_jit_current
  // from /proc/kallsyms; this kernel lists no such symbol (no CONFIG_KALLSYMS_ALL), so the
  // exporter would refuse that config, and the object is loaded with the variable as built.
  'ebpf-exporter': { loader: 'libbpf', type: 'socket_filter' },
  // open-telemetry/opentelemetry-ebpf-profiler's support/ebpf/tracer.ebpf.amd64 as its authors
  // committed it (clang-17, llvm-link, llc -mcpu=v2): the profiler loads it with cilium/ebpf.
  // Its ring buffer trace_events is declared with max_entries 0 and sized before loading
  // (tracer.go loadAllMaps): the next power of two of samples per second (20, the default) x
  // CPUs x sizeof(Trace) (0x62d8). Its other resized maps are hash maps, whose size the
  // verifier does not read; they keep their declared sizes here.
  'otel-ebpf-profiler': { loader: 'cilium/ebpf', type: 'socket_filter', mapMaxEntries: { trace_events: (n) => 2 ** Math.ceil(Math.log2(20 * n * 0x62d8)) } },
  // elastic/ebpf's probes (GPL/: EventProbe, TcFilter, KprobeConnectHook, built as its CMake
  // builds them with clang and its own vmlinux.h and libbpf): Elastic Defend's loader
  // (non-GPL/Events/Lib/EbpfEvents.c) opens EventProbe as a libbpf skeleton and, before loading,
  // sets consumer_pid, the argument and return-value positions and field offsets it reads from
  // the kernel's BTF (probe_fill_relos), one event buffer per CPU (probe_resize_maps), and turns
  // off the fentry/fexit programs where trampolines are missing (probe_set_autoload; this kernel
  // refuses them), so each program is loaded on its own here (tp_btf/module_load names a
  // tracepoint this kernel, built without modules, lacks). TcFilter's section is "classifer"
  // (sic); its loader (non-GPL/HostIsolation/Lib/TcLoader.c) loads it as BPF_PROG_TYPE_SCHED_CLS.
  'elastic-ebpf': {
    loader: 'libbpf',
    type: 'kprobe',
    alone: true,
    sections: [[/^classifer$/, 'sched_cls']],
    hosts: {
      'EventProbe.bpf.o': { mapMaxEntries: { event_buffer_map: 'ncpus' }, set: () => elasticRelos() },
    },
  },
  // xdp-project/bpf-examples (each example's BPF_TARGETS, built as its lib/common.mk builds
  // them, against the libbpf and libxdp its submodules pin): loaded by libbpf or libxdp, an
  // untyped section (the AF_XDP examples' xdp_sock, encap-forward's "prog", given to
  // `ip link set ... xdp obj X sec prog`) as XDP; "classifier" and "tc" are tc programs.
  'bpf-examples': { loader: 'libxdp', type: 'xdp' },
  // netobserv/netobserv-ebpf-agent's pkg/ebpf/bpf_{x86_bpfel,s390_bpfeb}.o as its authors commit
  // them (bpf2go): the agent loads them with cilium/ebpf, its flow maps resized (hash maps, whose
  // size the verifier does not read) and its ring buffers set to a page when their feature is off.
  'netobserv-ebpf-agent': { loader: 'cilium/ebpf', type: 'socket_filter', mapMaxEntries: { direct_flows: 4096, ssl_data_event_map: 4096, packet_record: 4096 } },
  // kubeshark/tracer's pkg/bpf/tracer_bpfel_x86.o as its authors commit it (bpf2go; its default
  // build; the 4.6-kernel flavour and the one without eBPF packet capture are left out for the
  // recording's time): the tracer loads it with cilium/ebpf, its feature constants (helpers the
  // kernel has, cgroup version) left as built here.
  'kubeshark-tracer': { loader: 'cilium/ebpf', type: 'socket_filter' },
  // loxilb-io/loxilb-ebpf, its kernel/ objects as its Makefile builds them: its loader
  // (common_libbpf.c, loxilb_libdp.c; libbpf) sets every program of the tc objects to SCHED_CLS
  // and of llb_xdp_main.o to XDP; the tc_packet_hook0..7 programs tail-call each other through
  // pgm_tbl. The monitor's kprobes and the sockmap programs have sections libbpf knows.
  // llb_kern_sock.o's `cgroup/connect` (a section libbpf does not know) it loads as
  // CGROUP_SOCK_ADDR with the expected attach type INET4_CONNECT and BPF_F_TEST_RND_HI32
  // (loxilb_libdp.c's sockaddr setup): a host's attachType and progFlags.
  'loxilb-ebpf': { loader: 'libbpf', type: 'sched_cls', objects: { 'llb_xdp_main.o': 'xdp', 'llb_kern_sock.o': 'cgroup_sock_addr' }, hosts: { 'llb_kern_sock.o': { attachType: 'cgroup_inet4_connect', progFlags: 4 } } },
  // kubearmor/KubeArmor's system monitor (KubeArmor/BPF/system_monitor.c as its Makefile builds it
  // on a kernel with BTF: clang | opt | llc -mcpu=probe), which KubeArmor loads with cilium/ebpf,
  // its maps pinned by name after it made some first: kubearmor_visibility, a hash_of_maps the C
  // declares without an inner map, with its InnerMap (a hash of 4-byte keys and values, 6 entries:
  // BpfVisibilityMapSpec); the others it makes are hashes, whose size the verifier does not read.
  kubearmor: { loader: 'cilium/ebpf', type: 'kprobe', mapInner: { kubearmor_visibility: { type: 'hash', keySize: 4, valueSize: 4, maxEntries: 6 } } },
  // l3af-project/eBPF-Package-Repository, each directory's *.bpf.c as its Makefile builds it
  // (clang -emit-llvm | llc): l3afd loads them with cilium/ebpf and types them from its
  // configuration, XDP for the xdp_* / xdp-* sections, tc for the tc_* / tc-* ones.
  l3af: { loader: 'cilium/ebpf', type: 'xdp', sections: [[/^tc[-_]/, 'sched_cls']] },
  // merbridge/merbridge's bpf/ objects as its Makefile builds them for this kernel (istio mode;
  // cni6_*: CNI mode with IPv6): loaded with `bpftool prog load(all)` (libbpf), every section
  // one libbpf names; mb_tc.o's classifier_* with tc.
  merbridge: { loader: 'libbpf', type: 'socket_filter' },
  // cilium/pwru: its bpf2go object (kprobe_pwru.c as build.go compiles it for amd64) and the
  // committed test-app object. pwru loads with cilium/ebpf after setting `CFG` from its flags —
  // here their defaults: --output-meta and --output-tuple on, is_set, the kernel's BTF ids of
  // sk_buff and skb_shared_info — and percpu_big_buff's value size from --set-percpu-buf (4096).
  // No pcap filter is given, so no filter code is spliced in. ENDBR_INSN_SIZE is read only by
  // the fentry/fexit programs, which this kernel refuses.
  pwru: {
    loader: 'cilium/ebpf',
    type: 'kprobe',
    hosts: { 'kprobepwru_x86_bpfel.o': { set: () => ({ CFG: pwruConfig() }), mapValueSize: { percpu_big_buff: 4096 } } },
  },
  // open-telemetry/opentelemetry-ebpf-instrumentation (OBI, grafana/beyla's eBPF code): every
  // bpf2go object its go:generate lines build for amd64, loaded with cilium/ebpf (`tc_ingress`
  // is a tc program by its prefix rule) after RewriteConstants with the default configuration's
  // values: the tracers that filter by PID set `filter_pids` to 1 (Discovery.SystemWide and
  // BPFPidFilterOff off); every other constant they set (wakeup_data_bytes, capture_header_buffer,
  // high_request_volume, disable_black_box_cp, sampling, trace_messages) is 0 by default, as
  // built. gpuevent's ring buffer has no size, which OBI's page rounding leaves at 0: the kernel
  // refuses that map, as it would OBI's. The network flow tracers size their flow maps from
  // CacheMaxFlows (5000 by default).
  obi: {
    loader: 'cilium/ebpf',
    type: 'kprobe',
    hosts: Object.fromEntries([
      ...['generictracer_bpf', 'generictracer_bpf_tp', 'generictracer_bpf_debug', 'generictracer_bpf_tp_debug', 'gpuevent_bpf', 'gpuevent_bpf_debug', 'tpinjector_bpf', 'tpinjector_bpf_debug'].map((o) => [`${o}_x86_bpfel.o`, { set: () => ({ filter_pids: 1 }) }]),
      ...['netolly_Net', 'netolly_NetSk'].map((o) => [`${o}_x86_bpfel.o`, { mapMaxEntries: { aggregated_flows: 5000, flow_directions: 5000, conn_initiators: 5000 } }]),
    ]),
  },
  // coroot/coroot-node-agent's ebpftracer: the objects its Dockerfile builds for amd64, one per
  // kernel version it picks from (4.16, 4.20, 5.6, 5.12, and 5.12 with the tracepoint context's
  // extra padding), each loaded whole by cilium/ebpf (NewCollectionWithOptions, no options)
  coroot: { loader: 'cilium/ebpf', type: 'kprobe' },
  // open-telemetry/opentelemetry-go-instrumentation (Go auto-instrumentation): every bpf2go object
  // its go:generate lines build for amd64 (uprobes), loaded with cilium/ebpf after the constants
  // it injects for a target process: total_cpus, and start_addr/end_addr of the memory it maps in
  // the target (a page per CPU times 8, at an address typical of a Go process's mmap); the
  // feature switches at what a current Go and gRPC give (Go 1.24's Swiss maps, ServeMux
  // patterns, newer gRPC frames); traceglobal's attribute types at go.opentelemetry.io/otel's
  // attribute.Type values. The struct field offsets it reads from its offsets table for the
  // target binary are left at 0: the programs only add them to user addresses they pass to
  // bpf_probe_read_user.
  'otel-go': {
    loader: 'cilium/ebpf',
    type: 'kprobe',
    hosts: Object.fromEntries(
      ['database_sql_bpf', 'github_com_segmentio_kafka-go_consumer_bpf', 'github_com_segmentio_kafka-go_producer_bpf', 'github_com_segmentio_kafka-go_producer_bpf_no_tp', 'go_opentelemetry_io_auto_sdk_bpf', 'go_opentelemetry_io_otel_trace_bpf', 'go_opentelemetry_io_otel_traceglobal_bpf', 'google_golang_org_grpc_client_bpf', 'google_golang_org_grpc_server_bpf', 'net_http_client_bpf', 'net_http_client_bpf_no_tp', 'net_http_server_bpf'].map((o) => [
        `${o}_x86_bpfel.o`,
        {
          set: () => ({
            total_cpus: possibleCpus(),
            start_addr: 0x7f5e3c000000,
            end_addr: 0x7f5e3c000000 + 4096 * possibleCpus() * 8,
            ...(o === 'net_http_server_bpf' ? { swiss_maps_used: 1, pattern_path_supported: 1, pattern_path_public_supported: 1 } : {}),
            ...(o === 'google_golang_org_grpc_server_bpf' ? { server_addr_supported: 1, is_new_frame_pos: 1 } : {}),
            ...(o === 'google_golang_org_grpc_client_bpf' ? { write_status_supported: 1 } : {}),
            ...(o === 'go_opentelemetry_io_otel_traceglobal_bpf' ? Object.fromEntries(['invalid', 'bool', 'int64', 'float64', 'string', 'boolslice', 'int64slice', 'float64slice', 'stringslice'].map((t, k) => [`attr_type_${t}`, k])) : {}),
          }),
        },
      ]),
    ),
  },
  // xdp-tutorial loads every object with xdp-loader (libxdp): an untyped section is XDP.
  'xdp-tutorial': { loader: 'libxdp', type: 'xdp' },
  'cilium-ebpf': { loader: 'cilium/ebpf', type: 'socket_filter' },
  // cilium/ebpf's own testdata/*.elf as its authors committed them, both byte orders: the
  // big-endian ones are opened and disassembled, and refused for loading on this
  // little-endian host as cilium/ebpf and libbpf refuse them.
  'cilium-ebpf-testdata': { loader: 'cilium/ebpf', type: 'socket_filter' },
  // samples/bpf: libbpf sections; test_cgrp2_tc's "filter", xdp2skb_meta's "tc_mark" and
  // tc_l2_redirect's / tcbpf1's sections are attached with `tc filter add ... bpf da obj X sec S`
  // by their scripts; xdp_fwd_user, xdp_adjust_tail_user set BPF_PROG_TYPE_XDP on theirs, and
  // sockex1/2_user BPF_PROG_TYPE_SOCKET_FILTER (the default here).
  'linux-samples': {
    loader: 'libbpf',
    type: 'socket_filter',
    sections: [
      [/^(filter|tc_mark|classifier|(clone_)?redirect_(xmit|recv)|l2_to_ip6?tun_ingress_(forward|redirect)|drop_non_tun_vip)$/, 'sched_cls'],
      [/^(xdp_fwd|xdp_fwd_direct|xdp_icmp)$/, 'xdp'],
    ],
  },
  // Tools of the Linux tree that load BPF programs with libbpf skeletons: perf's
  // (tools/perf/util/bpf_skel), bpftool's (skeleton/), runqslower. `hosts`: what a tool sets
  // in the skeleton before loading (tools/perf/util/bpf_counter.c, bpf_counter_cgroup.c,
  // tools/bpf/bpftool/prog.c do_profile), for one everyday command each: `set` the .rodata
  // variables, `mapMaxEntries` the map sizes, `attachProg` the BPF program an fentry/fexit
  // program is attached to (bpf_program__set_attach_target with a program fd: perf's bperf
  // leader, the program a user profiles).
  'linux-tools': {
    loader: 'libbpf',
    type: 'socket_filter',
    hosts: {
      // bpftool prog profile PROG cycles: one metric
      'bpftool_profiler.bpf.o': { set: { num_cpu: 'ncpus', num_metric: 1 }, mapMaxEntries: { events: 'ncpus', fentry_readings: 1, accum_readings: 1, counts: 1 }, attachProg: 'perf_bperf_leader.bpf.o:on_switch' },
      // perf stat -b PROG -e cycles
      'perf_bpf_prog_profiler.bpf.o': { set: { num_cpu: 'ncpus' }, mapMaxEntries: { events: 'ncpus', fentry_readings: 1, accum_readings: 1 }, attachProg: 'perf_bperf_leader.bpf.o:on_switch' },
      // perf stat --bpf-counters -a -e cycles: system-wide, one filter entry; fexit on the leader's on_switch
      'perf_bperf_follower.bpf.o': { mapMaxEntries: { accum_readings: 1, filter: 1 }, attachProg: 'perf_bperf_leader.bpf.o:on_switch' },
      // perf stat -a --for-each-cgroup CG -e cycles: one event, one cgroup (perf_event is a
      // cgroup v1 hierarchy here, so use_cgroup_v2 stays 0)
      'perf_bperf_cgroup.bpf.o': { set: { num_cpus: 'ncpus', num_events: 1 }, mapMaxEntries: { events: 'ncpus', cgrp_idx: 1, prev_readings: 1, cgrp_readings: 1 } },
    },
  },
  // tetragon's loader (pkg/sensors/program/loader_linux.go) sets every fentry/fexit and LSM
  // program's AttachTo to the hook of the policy before loading (the sections are
  // placeholders): one representative hook each, as pattern/target pairs. Its large (v5.3+)
  // kprobe/uprobe objects call cel_expr_0..7, which it links in at load time
  // (pkg/selectors/celexpr.go): `return 0` bodies where the policy has no CEL expression.
  tetragon: { loader: 'cilium/ebpf', type: 'kprobe', attachTo: [['^lsm(\\.s)?/generic_lsm_ima_bprm', 'bprm_check_security'], ['^lsm(\\.s)?/', 'file_open'], ['^(fentry|fexit)/', 'security_file_open']], functions: Array.from({ length: 8 }, (_, i) => `cel_expr_${i}`) },
  katran: { loader: 'libbpf', type: 'xdp' },
  // falcosecurity/libs driver/modern_bpf: falco's modern probe, one object linked from its
  // .bpf.o files with `bpftool gen object` and opened as a libbpf skeleton (libpman). Before
  // loading, libpman sizes auxiliary_maps and counter_maps to the possible CPUs
  // (pman_prepare_maps_before_loading) and gives ringbuf_maps one entry per possible CPU and a
  // template inner ring buffer of the buffer size asked for (bpf_map__set_inner_map_fd; scap's
  // DEFAULT_DRIVER_BUFFER_BYTES_DIM, 8 MiB).
  'falco-modern-bpf': { loader: 'libbpf', type: 'socket_filter', mapMaxEntries: { auxiliary_maps: 'ncpus', counter_maps: 'ncpus', ringbuf_maps: 'ncpus', 'ringbuf_maps.inner': 8 * 1024 * 1024 } },
};

/**
 * Objects built to be linked first, per collection: the inputs of one `bpftool gen object`
 * (libbpf's static linker), in the order their build gives them. Recorded as one object named
 * by joining the inputs with '+'; the inputs are not recorded alone.
 * - cilium/ebpf's testdata/Makefile links linked1.c + linked2.c into linked-el.elf (that
 *   object, committed by them, is recorded too, as they built it);
 * - samples/bpf/Makefile: xdp_router_ipv4.skel.h-deps := xdp_router_ipv4.bpf.o xdp_sample.bpf.o
 *   (LINKED_SKELS; the skeleton is generated from their link);
 * - tools/testing/selftests/bpf/Makefile: linked_funcs / linked_vars / linked_maps .skel.h-deps
 *   (the prog_tests of the same names load those skeletons).
 */
const LINKED = {
  'cilium-ebpf-testdata': [['linked1-el.elf', 'linked2-el.elf']],
  'cilium-ebpf': [['testdata_linked1.o', 'testdata_linked2.o']],
  'linux-samples': [['xdp_router_ipv4.bpf.o', 'xdp_sample.bpf.o']],
  'linux-selftests-linked': [
    ['linked_funcs1.o', 'linked_funcs2.o'],
    ['linked_vars1.o', 'linked_vars2.o'],
    ['linked_maps1.o', 'linked_maps2.o'],
  ],
};

/** Program types whose programs trace or enforce (the issue's "tracing/LSM"). */
const TRACING_TYPES = new Set(['kprobe', 'tracepoint', 'raw_tracepoint', 'raw_tracepoint_writable', 'perf_event', 'tracing', 'lsm']);

// The unsuffixed builds (4.19 variants, objects without variants), recorded apart from the
// variants a 6.18 kernel loads; the same loader.
LOADERS['tetragon-plain'] = LOADERS.tetragon;

// Linux's BPF selftests (tools/testing/selftests/bpf/progs, one collection per feature group:
// linux-selftests-iters, -graph, -kptr, -locks, -timers, -globals, -dynptr, -verifier). Programs carrying
// the test_loader's annotations (`__success`, `__failure`, `__flag(...)`: BTF decl tags
// "comment:test_*" on the program's function) are loaded as test_loader.c loads them: one at a
// time, prog_flags BPF_F_TEST_RND_HI32 | BPF_F_TEST_REG_INVARIANTS (testing_prog_flags()) with
// the program's `__flag`s set or cleared; the others by libbpf as their prog_tests skeletons do.
const SELFTESTS = { loader: 'test_loader', type: 'socket_filter', testLoader: true };
function loaderOf(group) {
  return LOADERS[group] ?? (/^linux-selftests(-|$)/.test(group) ? SELFTESTS : undefined);
}

const VMLINUX = '/sys/kernel/btf/vmlinux';
// Parsed once: loadPrograms would parse the bytes again for every object.
const vmlinux = existsSync(VMLINUX) ? parseBtfTable(new Uint8Array(readFileSync(VMLINUX)), 'kernel BTF').table : undefined;
const kallsyms = new Map();
try {
  for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
    const [addr, , sym] = line.split(/\s+/);
    if (sym && addr && !kallsyms.has(sym)) kallsyms.set(sym, BigInt(`0x${addr}`));
  }
} catch {
  /* no kallsyms: typeless ksyms fail to resolve */
}

/**
 * A collection's loader row with what its tool sets for this object (row.hosts[object]): map
 * sizes merged, the variables it sets, the program it attaches to.
 */
function hostOf(group, object) {
  const row = loaderOf(group);
  const h = row?.hosts?.[object];
  if (!h) return row;
  return { ...row, ...h, mapMaxEntries: { ...row.mapMaxEntries, ...h.mapMaxEntries }, mapValueSize: { ...row.mapValueSize, ...h.mapValueSize } };
}

/** 'ncpus' as the possible CPUs, 'pid_max' as /proc/sys/kernel/pid_max, a function of the possible CPUs called with them, other values as they are. */
const sized = (n) => (typeof n === 'function' ? n(possibleCpus()) : n === 'ncpus' ? possibleCpus() : n === 'pid_max' ? Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) : n);

/** A global's `--set` flag: an integer as it is, bytes as bytes:HEX. */
const setFlag = (name, v) => (v instanceof Uint8Array ? `${name}=bytes:${Buffer.from(v).toString('hex')}` : `${name}=${v}`);

/** The prototype of the kernel function `name` in this kernel's BTF. */
function kernelProto(name) {
  const id = vmlinux && indexByName(vmlinux, ['func']).get(name)?.[0];
  return id === undefined ? undefined : vmlinux.type(vmlinux.type(id).type);
}

/** Byte offset of `field` in kernel struct `struct`, through nested structs and unions (-1: none). */
function kernelFieldOff(struct, field) {
  const walk = (t, base) => {
    for (const m of t.members) {
      if (m.name === field) return (base + m.bitOffset) / 8;
      const mt = vmlinux.type(m.type);
      if (mt?.kind !== 'struct' && mt?.kind !== 'union') continue;
      const r = walk(mt, base + m.bitOffset);
      if (r >= 0) return r;
    }
    return -1;
  };
  const id = vmlinux && indexByName(vmlinux, ['struct']).get(struct)?.[0];
  return id === undefined ? -1 : walk(vmlinux.type(id), 0);
}

/**
 * pwru's `struct config CFG` (packed, 28 bytes) as GetConfig fills it with the default flags:
 * output_meta and output_tuple (byte 16, bits 0 and 1), is_set (byte 18, bit 0), and the
 * kernel BTF ids of `struct sk_buff` and `struct skb_shared_info` (u32 at 20 and 24).
 */
function pwruConfig() {
  const b = new Uint8Array(28);
  const v = new DataView(b.buffer);
  b[16] = 0b11;
  b[18] = 0b1;
  const id = (name) => (vmlinux && indexByName(vmlinux, ['struct']).get(name)?.[0]) ?? 0;
  v.setUint32(20, id('sk_buff'), true);
  v.setUint32(24, id('skb_shared_info'), true);
  return b;
}

/**
 * What Elastic's EbpfEvents.c probe_fill_relos sets in EventProbe's .rodata from the kernel's
 * BTF: argument positions, the return value's position (the argument count), whether
 * vfs_rename takes a `struct renamedata *rd` (then not the old/new dentry positions), field
 * offsets where the field exists; and consumer_pid (its own pid; any here).
 */
function elasticRelos() {
  const argIdx = (f, a) => kernelProto(f)?.params.findIndex((p) => p.name === a) ?? -1;
  const retIdx = (f) => kernelProto(f)?.params.length ?? -1;
  const set = { consumer_pid: 1, ret__inet_csk_accept__: retIdx('inet_csk_accept'), arg__vfs_unlink__dentry__: argIdx('vfs_unlink', 'dentry'), ret__vfs_unlink__: retIdx('vfs_unlink') };
  if (argIdx('vfs_rename', 'rd') >= 0) set.exists__vfs_rename__rd__ = 1;
  else Object.assign(set, { arg__vfs_rename__old_dentry__: argIdx('vfs_rename', 'old_dentry'), arg__vfs_rename__new_dentry__: argIdx('vfs_rename', 'new_dentry') });
  set.ret__vfs_rename__ = retIdx('vfs_rename');
  for (const [st, f] of [['iov_iter', '__iov'], ['inode', '__i_atime'], ['inode', '__i_mtime'], ['inode', '__i_ctime']]) {
    const off = kernelFieldOff(st, f);
    if (off >= 0) set[`off__${st}__${f}__`] = off;
  }
  Object.assign(set, { arg__do_truncate__filp__: argIdx('do_truncate', 'filp'), ret__do_truncate__: retIdx('do_truncate') });
  return set;
}

/** The global variables a row sets, as loadPrograms' `globals`. */
function globalsOf(row) {
  const set = typeof row?.set === 'function' ? row.set() : row?.set;
  return set ? Object.fromEntries(Object.entries(set).map(([k, v]) => [k, sized(v)])) : undefined;
}

/**
 * A row's attachProg (OBJECT:PROG of the same collection directory) loaded into the kernel with
 * its maps, and its function's id in its own BTF (func_info[0]), as `bpf kernel load --attach-prog`.
 */
function loadAttachTarget(dir, spec) {
  const [object, prog] = spec.split(':');
  const t = loadPrograms(new Uint8Array(readFileSync(join(dir, object))), vmlinux ? { kernelBtf: vmlinux } : {}).find((p) => p.name === prog);
  if (!t?.funcInfo?.length) throw new Error(`attach target ${spec}: no such program with BTF`);
  const l = loadWithMaps(t, { type: t.type, logLevel: 1 });
  if (!l.accepted) {
    l.close();
    throw new Error(`attach target ${spec} rejected: ${l.error}`);
  }
  return { fd: l.fd, btfId: t.funcInfo[0].typeId, close: () => l.close() };
}

/** The BTF id of a row's attachProg function (without loading it). */
function attachTargetId(dir, spec) {
  const [object, prog] = spec.split(':');
  return loadPrograms(new Uint8Array(readFileSync(join(dir, object))), vmlinux ? { kernelBtf: vmlinux } : {}).find((p) => p.name === prog)?.funcInfo?.[0]?.typeId;
}

function typeOf(group, object, p) {
  if (p.type) return p.type;
  const l = loaderOf(group) ?? { type: 'socket_filter' };
  const byObject = l.objects?.[object];
  if (byObject) return byObject;
  for (const [re, t] of l.sections ?? []) if (re.test(p.section)) return t;
  return l.type;
}

/**
 * The collection loader's attach targets and linked-in functions (LOADERS[group].attachTo,
 * .functions) as loadPrograms options; the verifier worker builds the same from the same row.
 */
function hostOptions(row, dir) {
  const compiled = row?.attachTo?.map(([re, target]) => [new RegExp(re), target]);
  const ret0 = [{ code: 0xb7, dst: 0, src: 0, off: 0, imm: 0 }, { code: 0x95, dst: 0, src: 0, off: 0, imm: 0 }];
  const globals = globalsOf(row);
  const btfId = row?.attachProg ? attachTargetId(dir, row.attachProg) : undefined;
  return {
    ...(compiled ? { attachTo: (p) => compiled.find(([re]) => re.test(p.section))?.[1] } : {}),
    ...(row?.functions ? { functions: new Map(row.functions.map((n) => [n, ret0])) } : {}),
    ...(globals ? { globals } : {}),
    ...(btfId !== undefined ? { attachBtfId: () => btfId } : {}),
    // cilium/ebpf's linker for the collections it loads (calls across sections)
    ...(row?.loader === 'cilium/ebpf' ? { linker: 'cilium/ebpf' } : {}),
    // loaders that read the ELF file themselves check no externs when they open it, as libbpf does
    ...(rawOpener(row) ? { opener: 'raw' } : {}),
    // each program loaded on its own: none is resolved as one the object loads
    ...(row?.alone ? { autoload: () => false } : {}),
  };
}

/** Whether a loader row's loader opens objects without libbpf's extern checks (iproute2, bpf_load.c, falco's, OVS's, Suricata's, PREVAIL's). */
function rawOpener(row) {
  return row !== undefined && row.loader !== 'libbpf' && row.loader !== 'cilium/ebpf';
}

/** What the verifier worker needs of a loader row to build the object as its host does. */
function workerHost(row) {
  return row && { attachTo: row.attachTo, functions: row.functions, license: row.license, mapMaxEntries: mapSizes(row), mapValueSize: valueSizes(row), mapInner: row.mapInner, globals: globalsOf(row), linker: row.loader === 'cilium/ebpf' ? 'cilium/ebpf' : undefined, opener: rawOpener(row) ? 'raw' : undefined, alone: row.alone, attachType: row.attachType };
}

/** A loader row's map sizes ('ncpus': the possible CPUs) as loadWithMaps's mapMaxEntries. */
function mapSizes(row) {
  if (!row?.mapMaxEntries || Object.keys(row.mapMaxEntries).length === 0) return undefined;
  return Object.fromEntries(Object.entries(row.mapMaxEntries).map(([name, n]) => [name, sized(n)]));
}

/** A row's map value sizes as loadWithMaps's mapValueSize. */
function valueSizes(row) {
  return row?.mapValueSize && Object.keys(row.mapValueSize).length ? row.mapValueSize : undefined;
}

/** The `return 0` body of a linked-in function, as a file for `bpf kernel load --function`. */
let ret0File;
function ret0Path() {
  if (!ret0File) {
    ret0File = join(mkdtempSync(join(tmpdir(), 'realworld-')), 'ret0.s');
    writeFileSync(ret0File, 'r0 = 0\nexit\n');
  }
  return ret0File;
}

/**
 * The flags that make `bpf kernel load` load a program as the collection's loader does: the
 * license it passes, its map sizes, the attach target it sets, the functions it links in.
 */
function cliHostFlags(row, p, dir) {
  const flags = [];
  for (const [name, v] of Object.entries(globalsOf(row) ?? {})) flags.push('--set', setFlag(name, v));
  if (row?.attachProg) flags.push('--attach-prog', join(dir, row.attachProg));
  if (row?.loader === 'cilium/ebpf') flags.push('--linker', 'cilium/ebpf');
  if (rawOpener(row)) flags.push('--opener', 'raw');
  if (row?.attachType !== undefined) flags.push('--attach-type', row.attachType);
  if (row?.license !== undefined) flags.push('--license', row.license);
  for (const [name, n] of Object.entries(row?.mapMaxEntries ?? {})) flags.push('--map-max-entries', `${name}=${n === 'ncpus' ? n : sized(n)}`);
  for (const [name, n] of Object.entries(row?.mapValueSize ?? {})) flags.push('--map-value-size', `${name}=${n}`);
  for (const [name, m] of Object.entries(row?.mapInner ?? {})) flags.push('--map-inner', `${name}=${m.type}:${m.keySize}:${m.valueSize}:${m.maxEntries}`);
  const target = row?.attachTo?.find(([re]) => new RegExp(re).test(p.section))?.[1];
  if (target !== undefined && p.attachTo !== undefined) flags.push('--attach-to', target);
  for (const name of row?.functions ?? []) flags.push('--function', `${name}=${ret0Path()}`);
  return flags;
}

/** Our object (programs, maps, BTF): with the kernel's BTF when it has something to resolve, else without. */
function ourObject(bytes, row, dir) {
  const host = hostOptions(row, dir);
  try {
    // libbpf's kconfig values (CONFIG_*, LINUX_KERNEL_VERSION, LINUX_HAS_BPF_COOKIE, ...).
    const kconfig = kernelKconfig();
    return loadObject(bytes, vmlinux ? { kernelBtf: vmlinux, kallsyms, ...(kconfig ? { kconfig } : {}), ...host } : {});
  } catch (e) {
    const plain = loadObject(bytes, { ...(host.globals ? { globals: host.globals } : {}), ...(host.linker ? { linker: host.linker } : {}), ...(host.opener ? { opener: host.opener } : {}) });
    // (an object of maps only that fails to resolve, a struct_ops map of a type this kernel
    // lacks: that error is the loader's answer, as libbpf's)
    if (plain.programs.length === 0 || plain.programs.some((p) => p.relocs.some((r) => r.kind === 'kfunc' || r.kind === 'ksym') || p.attachTo !== undefined)) throw e;
    return plain;
  }
}

const short = (s) => String(s ?? '').split('\n')[0].slice(0, 160);

/** CO-RE relocation counts of an object, by section name and instruction offset. */
function coreSites(bytes) {
  const obj = parseElf(bytes);
  if (!obj.btf || !obj.btfExt) return new Map();
  try {
    const { btf } = parseBtfTable(obj.btf);
    const ext = btfExtRecords(obj.btfExt, btf, obj.endian);
    return new Map([...(ext.coreRelos ?? new Map())].map(([sec, rs]) => [sec, new Set(rs.map((r) => r.insnOff / 8))]));
  } catch {
    return new Map();
  }
}

// include/uapi/linux/bpf.h's BPF_F_* prog_flags that test_loader.c's __flag() names
const PROG_FLAG_BITS = { BPF_F_STRICT_ALIGNMENT: 1, BPF_F_ANY_ALIGNMENT: 2, BPF_F_TEST_RND_HI32: 4, BPF_F_TEST_STATE_FREQ: 8, BPF_F_SLEEPABLE: 16, BPF_F_XDP_HAS_FRAGS: 32, BPF_F_TEST_REG_INVARIANTS: 128 };
const TESTING_PROG_FLAGS = PROG_FLAG_BITS.BPF_F_TEST_RND_HI32 | PROG_FLAG_BITS.BPF_F_TEST_REG_INVARIANTS;

/**
 * test_loader.c's view of a program: undefined when its function carries no "comment:test_"
 * decl tag (not a test_loader program), else the prog_flags it loads it with (without the
 * section's BPF_F_SLEEPABLE, which libbpf adds) and the verdict the test expects.
 */
function testLoaderSpec(bytes, name) {
  const obj = parseElf(bytes);
  if (!obj.btf) return undefined;
  let btf;
  try {
    ({ btf } = parseBtfTable(obj.btf));
  } catch {
    return undefined;
  }
  const fn = btf.types.findIndex((t) => t?.kind === 'FUNC' && btfString(btf, t.nameOff) === name);
  if (fn < 0) return undefined;
  const tags = btf.types.filter((t) => t?.kind === 'DECL_TAG' && t.sizeOrType === fn && t.componentIdx === -1).map((t) => btfString(btf, t.nameOff)).filter((v) => v.startsWith('comment:test_'));
  if (tags.length === 0) return undefined;
  let flags = TESTING_PROG_FLAGS;
  for (const tag of tags) {
    const m = /^comment:test_prog_flags=(!?)(.*)$/.exec(tag);
    if (!m) continue;
    const bit = PROG_FLAG_BITS[m[2]] ?? Number(m[2]);
    flags = m[1] ? flags & ~bit : flags | bit;
  }
  const expect = tags.includes('comment:test_expect_failure') ? 'failure' : tags.includes('comment:test_expect_success') ? 'success' : null;
  return { flags, expect };
}

/** What BTF a program uses: its attach target, CO-RE relocations, kfuncs, typed ksyms. */
function btfUses(p, core, sectionNames) {
  const uses = [];
  if (p.attachBtfId !== undefined || p.attachTo !== undefined) uses.push('attach');
  if (p.origin?.some((o) => core.get(sectionNames.get(o.sectionIndex))?.has(o.insn))) uses.push('core');
  if (p.relocs.some((r) => r.kind === 'kfunc')) uses.push('kfunc');
  if (p.relocs.some((r) => r.kind === 'ksym')) uses.push('ksym');
  return uses;
}

/** Files under dir (recursively) that are objects: *.o, *.elf. */
function objectsUnder(dir, prefix = '') {
  const out = [];
  for (const d of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...objectsUnder(dir, rel));
    else if (/\.(o|elf)$/.test(d.name)) out.push(rel);
  }
  return out;
}

/** `bpf kernel load` (with `--link` for a linked object), in this process: the CLI's own code path, output captured. */
async function cliLoad(file, p, type, row, progFlags, linkInputs) {
  const { main } = await import('../../../apps/cli/dist/index.js');
  const objects = linkInputs ? [linkInputs[0], ...linkInputs.slice(1).flatMap((i) => ['--link', i])] : [file];
  const argv = ['kernel', 'load', ...objects, '--section', p.section, '--prog', p.name, '--type', type, ...cliHostFlags(row, p, dirname(objects[0])), ...(progFlags ? ['--flags', String(progFlags)] : []), '--json', '--log-level', '1'];
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
  // the object's path relative to --from: the recording names no directory of this machine
  let said = err.join('');
  for (const f of linkInputs ?? [file]) said = said.split(f).join(relative(args.from ?? '.', f));
  return { accepted: null, error: short(said || `exit ${code}`) };
}

/** `bpf kernel load --json` of an object of maps only, in this process: its per-map answers. */
async function cliMaps(file, row) {
  const { main } = await import('../../../apps/cli/dist/index.js');
  const flags = [];
  for (const [name, v] of Object.entries(globalsOf(row) ?? {})) flags.push('--set', setFlag(name, v));
  if (row?.loader === 'cilium/ebpf') flags.push('--linker', 'cilium/ebpf');
  for (const [name, n] of Object.entries(row?.mapMaxEntries ?? {})) flags.push('--map-max-entries', `${name}=${n === 'ncpus' ? n : sized(n)}`);
  for (const [name, n] of Object.entries(row?.mapValueSize ?? {})) flags.push('--map-value-size', `${name}=${n}`);
  for (const [name, m] of Object.entries(row?.mapInner ?? {})) flags.push('--map-inner', `${name}=${m.type}:${m.keySize}:${m.valueSize}:${m.maxEntries}`);
  const out = [];
  const ow = process.stdout.write, ew = process.stderr.write;
  process.stdout.write = (c) => (out.push(String(c)), true);
  process.stderr.write = () => true;
  try {
    await main(['kernel', 'load', file, ...flags, '--json']);
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
  try {
    return JSON.parse(out.join('')).maps;
  } catch {
    return undefined;
  }
}

/** Our verifier in a worker, so a runaway program costs a timeout and not the run. */
let worker;
let nextId = 0;
function ourVerdict(file, p, type, timeoutMs, host, progFlags, kernelLog, dumpTo) {
  worker ??= new Worker(new URL('./realworld-verify.worker.mjs', import.meta.url));
  const w = worker;
  const id = nextId++;
  return new Promise((resolve) => {
    const done = (v) => {
      clearTimeout(t);
      w.off('message', onMessage);
      w.off('error', onError);
      resolve(v);
    };
    const t = setTimeout(() => {
      if (worker === w) worker = undefined;
      void w.terminate();
      done({ accepted: null, error: `timeout ${timeoutMs} ms` });
    }, timeoutMs);
    const onMessage = (m) => {
      if (m.id === id) done(m);
    };
    const onError = (e) => {
      if (worker === w) worker = undefined;
      done({ accepted: null, error: short(e.message) });
    };
    w.on('message', onMessage);
    w.on('error', onError);
    w.postMessage({ id, file, section: p.section, prog: p.name, type, host, progFlags, ...(kernelLog !== undefined ? { kernelLog } : {}), ...(dumpTo ? { dumpTo } : {}) });
  });
}

// The kernel's largest log buffer (kernel/bpf/log.c bpf_vlog_init: log_size above UINT_MAX >> 2
// is EINVAL); @bpf/kernel grows the buffer to the size the kernel reports it needed.
const KERNEL_LOG_MAX = 2 ** 30 - 1;
/** Kernel logs longer than this are compared streamed, from files (V8's strings end near 512 MiB). */
const LONG_LOG = 2 ** 27;

/**
 * A line of a level-2 log difference as the fixture keeps it: whole when short, else from a
 * little before the first character where it parts from the other side's line.
 */
function diffLine(line, other) {
  if (line === null || line.length <= 240) return line;
  let at = 0;
  while (at < line.length && other !== null && line[at] === other[at]) at++;
  const from = Math.max(0, Math.min(at - 80, line.length - 240));
  return `${from > 0 ? '…' : ''}${line.slice(from, from + 240)}${from + 240 < line.length ? '…' : ''}`;
}

/**
 * The kernel's level-2 log of one program (loaded again as it was for its verdict) against our
 * verifier's, line for line: { same }, the first difference, or why it was not compared.
 */
async function level2(file, p, type, row, progFlags, verdict) {
  let logBytes, errno, accepted;
  let target;
  try {
    const sizes = mapSizes(row);
    const values = valueSizes(row);
    target = row?.attachProg ? loadAttachTarget(dirname(file), row.attachProg) : undefined;
    // the log as bytes: a long one (a million processed instructions) is past what a string holds
    const load = loadWithMaps(row?.license !== undefined ? { ...p, license: row.license } : p, { type, logLevel: 2, logSize: 1 << 24, logBytes: true, readInfo: false, ...(sizes ? { mapMaxEntries: sizes } : {}), ...(values ? { mapValueSize: values } : {}), ...(row?.mapInner ? { mapInner: row.mapInner } : {}), ...(progFlags !== undefined ? { flags: progFlags } : {}), ...(target ? { attachProgFd: target.fd } : {}) });
    ({ logBytes, errno, accepted } = load);
    load.close();
  } catch (e) {
    return { same: null, why: short(`kernel log not read: ${e.code ?? e.name}: ${e.message}`) };
  } finally {
    target?.close();
  }
  if (errno === 28) return { same: null, why: `kernel log longer than the kernel's maximum log size (${KERNEL_LOG_MAX} bytes)` };
  if (logBytes.length === 0 && !accepted) return { same: null, why: `no level-2 log (errno ${errno}): the log size it needs is over the kernel's maximum (${KERNEL_LOG_MAX} bytes)` };
  // a log longer than LONG_LOG is compared from files, both logs streamed (our verifier's
  // through its logSink), neither held whole
  const long = logBytes.length > LONG_LOG;
  const dumpDir = args['log-dump'] ?? (long ? mkdtempSync(join(tmpdir(), 'realworld-log2-')) : undefined);
  const dump = dumpDir ? join(dumpDir, `${basename(file)}.${p.name}`) : undefined;
  if (dump) {
    mkdirSync(dumpDir, { recursive: true });
    writeFileSync(`${dump}.kernel`, logBytes);
  }
  const log = long ? undefined : Buffer.from(logBytes.buffer, logBytes.byteOffset, logBytes.length).toString('utf8');
  logBytes = undefined;
  try {
    if (accepted !== verdict) return { same: null, why: `the kernel's verdict at log level 2 (${accepted}) is not the level-1 one` };
    const t0 = performance.now();
    const ours = await ourVerdict(file, p, type, Number(args['verifier-timeout'] ?? 60000), workerHost(row), progFlags, long ? { file: `${dump}.kernel` } : log, dump && `${dump}.ours`);
    // our verdict and processed count from the same run (one run of ours per program, not two)
    const verdictOf = { ...ours, ms: Math.round(performance.now() - t0) };
    if (ours.log2 === undefined) return { same: false, line: 0, ours: `no level-2 log: ${short(ours.error)}`, kernel: null, verdictOf };
    if (ours.log2 === null) return { same: true, verdictOf };
    return { same: false, line: ours.log2.index, ours: diffLine(ours.log2.ours, ours.log2.kernel), kernel: diffLine(ours.log2.kernel, ours.log2.ours), verdictOf };
  } finally {
    if (args['log-dump'] === undefined && dumpDir) rmSync(dumpDir, { recursive: true, force: true });
  }
}

/** One program's record: the kernel's verdict, `bpf kernel load`'s, ours. */
async function recordProgram(group, object, file, p, uses, bytes, linkInputs) {
  const type = typeOf(group, object, p);
  const row = hostOf(group, object);
  // the expected attach type the host's loader sets (bpf_program__set_expected_attach_type)
  if (row?.attachType !== undefined) p = { ...p, expectedAttachType: row.attachType };
  const rec = { group, object, program: p.name, section: p.section, type, attach: p.expectedAttachType ?? null, btf: uses, loader: p.unresolved ? `${p.unresolved.code}: ${short(p.unresolved.message)}` : 'ok', kernel: null, kernelError: null, kernelRefused: null, cli: null, cliError: null, ours: null, oursError: null };
  // a test_loader program: its prog_flags (the section's sleepable bit added, as libbpf does);
  // the flags a host's loader sets (bpf_program__set_flags)
  const spec = row?.testLoader ? testLoaderSpec(bytes, p.name) : undefined;
  const progFlags = spec ? spec.flags | (p.sleepable ? PROG_FLAG_BITS.BPF_F_SLEEPABLE : 0) : row?.progFlags !== undefined ? row.progFlags | (p.sleepable ? PROG_FLAG_BITS.BPF_F_SLEEPABLE : 0) : undefined;
  if (spec) Object.assign(rec, { progFlags, expect: spec.expect });
  let load, target;
  try {
    const sizes = mapSizes(row);
    const values = valueSizes(row);
    // the program the tool attaches this one to, loaded first (and kept while this one loads)
    target = row?.attachProg ? loadAttachTarget(dirname(file), row.attachProg) : undefined;
    load = loadWithMaps(row?.license !== undefined ? { ...p, license: row.license } : p, { type, logLevel: 1, logSize: 1 << 24, ...(sizes ? { mapMaxEntries: sizes } : {}), ...(values ? { mapValueSize: values } : {}), ...(row?.mapInner ? { mapInner: row.mapInner } : {}), ...(progFlags !== undefined ? { flags: progFlags } : {}), ...(target ? { attachProgFd: target.fd } : {}) });
    // the kernel's "processed N insns" (printed for accepted and rejected programs alike)
    const processed = /processed (\d+) insns/.exec(load.log ?? '');
    if (processed) rec.kernelProcessed = Number(processed[1]);
    if (load.accepted) rec.kernel = true;
    else if (load.log === '') rec.kernelRefused = `refused before the verifier ran (errno ${load.errno}, empty log)`;
    // A log without an error line ("processed 0 insns" and ENOTSUPP for a struct_ops program
    // whose ops struct the kernel lacks): refused before the code was walked.
    else if (!load.error) rec.kernelRefused = `refused with no error in the log (errno ${load.errno}): ${short(load.log)}`;
    else {
      rec.kernel = false;
      rec.kernelError = short(load.error);
    }
  } catch (e) {
    // A map the kernel refuses, or a load that never reached the verifier: no verdict.
    rec.kernelRefused = short(`${e.code ?? ''} ${e.message}`.trim());
  } finally {
    load?.close();
    target?.close();
  }
  const cli = await cliLoad(file, p, type, row, progFlags, linkInputs);
  rec.cli = cli.accepted;
  rec.cliError = cli.accepted === false ? short(cli.error) : cli.accepted === null ? cli.error : null;
  const budget = args['verifier-budget'] === undefined ? Infinity : Number(args['verifier-budget']) * 1000;
  if (args.verifier && performance.now() - runStart > budget) {
    rec.ours = null;
    rec.oursError = `not measured: this run's verifier budget (${args['verifier-budget']} s) was spent`;
  } else if (args.verifier && row?.attachProg) {
    // our verifier types fentry/fexit targets from the kernel's BTF only, not another program's
    rec.ours = null;
    rec.oursError = 'not measured: attached to another BPF program';
  } else if (args.verifier) {
    const t0 = performance.now();
    // --log-level 2: our level-2 run gives the verdict and the count too (the level-0 run only
    // where the kernel's level-2 log was not compared)
    if (args['log-level'] === '2' && rec.kernel !== null) rec.log2 = await level2(file, p, type, row, progFlags, rec.kernel);
    const viaLog2 = rec.log2?.verdictOf;
    if (rec.log2) delete rec.log2.verdictOf;
    const ours = viaLog2 ?? await ourVerdict(file, p, type, Number(args['verifier-timeout'] ?? 60000), workerHost(row), progFlags);
    rec.ours = ours.accepted;
    rec.oursError = ours.accepted ? null : short(ours.error);
    if (rec.kernelProcessed !== undefined && ours.processed !== undefined) rec.oursProcessed = ours.processed;
    // wall time of our verdict (worker round trip; the machine's load is in it): slow programs stand out
    rec.oursMs = viaLog2?.ms ?? Math.round(performance.now() - t0);
  }
  if (args['log-level'] === '2' && rec.log2 === undefined && rec.kernel !== null && !/^not measured/.test(rec.oursError ?? '')) {
    rec.log2 = await level2(file, p, type, row, progFlags, rec.kernel);
    delete rec.log2.verdictOf;
  }
  const k = rec.kernel === true ? 'accept' : rec.kernel === false ? `reject (${rec.kernelError})` : `no verdict (${rec.kernelRefused})`;
  const l2 = rec.log2 === undefined ? '' : rec.log2.same === true ? '; level-2 log the same' : rec.log2.same === false ? `; level-2 log differs at line ${rec.log2.line}` : `; level-2 log not compared (${rec.log2.why})`;
  console.log(`${group}/${object} ${p.section} ${p.name} [${type}${rec.attach ? `/${rec.attach}` : ''}${uses.length ? ` btf:${uses.join(',')}` : ''}]: kernel ${k}; cli ${rec.cli}${args.verifier ? `; ours ${rec.ours}${rec.ours === rec.kernel || rec.kernel === null ? '' : ` (${rec.oursError ?? 'accept'})`} in ${rec.oursMs} ms` : ''}${l2}`);
  return rec;
}

const programsRe = args.programs === undefined ? undefined : new RegExp(args.programs);
const objectsRe = args.objects === undefined && programsRe === undefined ? undefined : new RegExp(args.objects ?? '');
/** Whether a record is one this run records again (--objects, --programs). */
const redoneRecord = (r) => objectsRe.test(r.object) && (programsRe === undefined || r.program === null || programsRe.test(r.program));

/** This run's records of the group being recorded, and the JSON writer called after each program (see below). */
let inProgress = [];
let checkpoint;

/** Every program of every object under dir, as records of `group` (linked ones as LINKED says). */
async function recordGroup(group, dir) {
  const records = [];
  inProgress = records;
  const links = (LINKED[group] ?? []).filter((ins) => ins.every((i) => existsSync(join(dir, i))));
  const linkedInputs = new Set(links.flat());
  for (const object of objectsUnder(dir).filter((o) => !linkedInputs.has(o) && (objectsRe === undefined || objectsRe.test(o)))) {
    const file = join(dir, object);
    await recordObject(group, object, file, new Uint8Array(readFileSync(file)), dir, records);
  }
  for (const inputs of links) {
    const object = inputs.join('+');
    if (objectsRe !== undefined && !objectsRe.test(object)) continue;
    let bytes;
    try {
      bytes = linkObjects(inputs.map((i) => ({ name: i, bytes: new Uint8Array(readFileSync(join(dir, i))) })));
    } catch (e) {
      records.push({ group, object, program: null, section: null, type: null, loader: `${e.code ?? 'error'}: ${short(e.message)}`, kernel: null, cli: null, ours: null });
      console.log(`${group}/${object}: link error ${e.message}`);
      continue;
    }
    // a file for `bpf kernel load` (and the verifier worker), outside the collection
    const file = join(mkdtempSync(join(tmpdir(), 'realworld-link-')), object);
    writeFileSync(file, bytes);
    // `bpf kernel load FIRST --link REST...` links them itself, from the collection's files
    await recordObject(group, object, file, bytes, dir, records, inputs.map((i) => join(dir, i)));
  }
  return records;
}

/** Every program of one object (`file` holding `bytes`; linked from `linkInputs` if given), appended to records. */
async function recordObject(group, object_, file, bytes, dir, records, linkInputs) {
  let progs, object, core, sectionNames;
  try {
    parseElf(bytes);
    object = ourObject(bytes, hostOf(group, object_), dir);
    progs = object.programs;
    core = coreSites(bytes);
    sectionNames = new Map(parseElfFile(bytes).sections.map((x) => [x.index, x.name]));
  } catch (e) {
    records.push({ group, object: object_, program: null, section: null, type: null, loader: `${e.code ?? 'error'}: ${short(e.message)}`, kernel: null, cli: null, ours: null });
    console.log(`${group}/${object_}: loader error ${e.message}`);
    return;
  }
  if (progs.length === 0) {
    // An object of maps only (cilium/ebpf's arena testdata): what the kernel says to creating
    // each of them, as the object's loader creates them (BTF, flags, map_extra, global data),
    // and whether `bpf kernel load` reports the same for each.
    const row = hostOf(group, object_);
    const sizes = mapSizes(row);
    const values = valueSizes(row);
    const made = createMaps(object.maps, { ...(object.btf ? { btf: object.btf } : {}), ...(sizes ? { mapMaxEntries: sizes } : {}), ...(values ? { mapValueSize: values } : {}) });
    const maps = made.maps.map((m, n) => ({ name: m.name, type: object.maps[n].type, kernel: m.error ? short(m.error.message) : 'created' }));
    made.close();
    const cli = await cliMaps(file, row);
    const same = cli !== undefined && cli.length === maps.length && cli.every((c, n) => c.name === maps[n].name && (c.created ? 'created' : short(c.error)) === maps[n].kernel);
    records.push({ group, object: object_, program: null, section: null, type: null, loader: 'ok: no programs', maps, kernel: null, cli: same, ours: null });
    console.log(`${group}/${object_}: no programs; maps: ${maps.map((m) => `${m.name} ${m.kernel}`).join(', ')}; cli ${same}`);
    return;
  }
  for (const p of progs) {
    if (programsRe !== undefined && !programsRe.test(p.name)) continue;
    records.push(await recordProgram(group, object_, file, p, btfUses(p, core, sectionNames), bytes, linkInputs));
    checkpoint?.();
  }
}

/** Counts of one group's records (or a whole collection's). */
function summarize(rs) {
  const progs = rs.filter((r) => r.program !== null);
  const verdict = progs.filter((r) => r.kernel !== null);
  const types = {};
  for (const r of progs) types[r.type] = (types[r.type] ?? 0) + 1;
  return {
    objects: new Set(rs.map((r) => r.object)).size,
    programs: progs.length,
    objectsRefused: rs.filter((r) => r.program === null && !r.loader.startsWith('ok')).length,
    // objects that open and have no programs (maps only)
    objectsWithoutPrograms: rs.filter((r) => r.program === null && r.loader.startsWith('ok')).length,
    types,
    tracingBtf: progs.filter((r) => TRACING_TYPES.has(r.type) && (r.btf?.length ?? 0) > 0).length,
    kernelOk: progs.filter((r) => r.kernel === true).length,
    kernelRejects: progs.filter((r) => r.kernel === false).length,
    // Old recordings (before kernelRefused) counted such programs as rejects.
    noVerdict: progs.filter((r) => r.kernel === null).length,
    reachedOfOk: progs.filter((r) => r.kernel === true && r.loader === 'ok').length,
    cliAgree: progs.filter((r) => r.cli === r.kernel || (r.kernel === null && r.cli === false)).length,
    oursMeasured: verdict.filter((r) => r.ours !== null && r.ours !== undefined).length,
    // kernel verdicts our verifier was not asked about (--verifier-budget spent)
    oursNotMeasured: verdict.filter((r) => r.ours == null && /^not measured/.test(r.oursError ?? '')).length,
    oursAgree: verdict.filter((r) => r.ours === r.kernel).length,
    // --log-level 2: level-2 logs compared, and the same line for line
    ...(verdict.some((r) => r.log2 !== undefined)
      ? { log2Measured: verdict.filter((r) => r.log2?.same === true || r.log2?.same === false).length, log2Same: verdict.filter((r) => r.log2?.same === true).length, log2TooLong: verdict.filter((r) => r.log2?.same === null).length }
      : {}),
  };
}

const runStart = performance.now();
const osrelease = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
const collections = args.table
  ? []
  : args.each
  ? readdirSync(args.from, { withFileTypes: true })
      .filter((d) => d.isDirectory() && (args.only === undefined || d.name === args.only))
      .map((d) => ({ name: d.name, groups: [[d.name, join(args.from, d.name)]] }))
      .sort((a, b) => a.name.localeCompare(b.name))
  : [
      {
        name: args.name ?? basename(args.from),
        groups: readdirSync(args.from, { withFileTypes: true })
          .filter((d) => d.isDirectory() && (args.only === undefined || d.name === args.only))
          .map((d) => [d.name, join(args.from, d.name)])
          .sort((a, b) => a[0].localeCompare(b[0])),
      },
    ];

const fixtures = join(root, 'fixtures/realworld');

/**
 * A collection's JSON with `recorded` (this run's records so far) and the records it keeps
 * from `before` (the JSON as it was when the run began: --only, --objects, --programs).
 */
function writeCollection(c, path, before, partial, recorded, quiet) {
  const redone = new Set(c.groups.map(([g]) => g));
  const kept = partial && before ? before.records.filter((r) => !redone.has(r.group) || (objectsRe !== undefined && !redoneRecord(r))) : [];
  const hadOurs = new Set(partial && before ? (before.verifierGroups ?? (before.verifier ? before.records.map((r) => r.group) : [])) : []);
  // which groups carry our verdicts: those recorded (whole or in part) with --verifier, and
  // those that did before; a group measured one part at a time marks the records of its other
  // parts that our verifier has not been asked about yet as not measured (left out of the
  // agreement counts, as a spent --verifier-budget leaves them)
  const oursIn = (g) => (!redone.has(g) ? hadOurs.has(g) : args.verifier === true);
  if (args.verifier)
    for (const r of kept)
      if (redone.has(r.group) && !hadOurs.has(r.group) && r.program !== null && r.ours == null && r.oursError == null) r.oursError = 'not measured: recorded without --verifier';
  const records = [...kept, ...recorded];
  // --verifier-budget spent: a program our verifier was not asked about this time keeps its
  // earlier record when that one has our verdict (recorded before, without this run's counts
  // or level-2 comparison), rather than becoming "not measured"
  if (args['verifier-budget'] !== undefined && before) {
    const earlier = new Map(before.records.filter((r) => r.program !== null && r.ours != null).map((r) => [`${r.group}\0${r.object}\0${r.section}\0${r.program}`, r]));
    for (let k = 0; k < records.length; k++) {
      const r = records[k];
      if (r.program === null || r.ours != null || !/^not measured: this run's verifier budget/.test(r.oursError ?? '')) continue;
      const e = earlier.get(`${r.group}\0${r.object}\0${r.section}\0${r.program}`);
      if (e && e.kernel === r.kernel) records[k] = e;
    }
  }
  records.sort((a, b) => a.group.localeCompare(b.group) || a.object.localeCompare(b.object));
  const groups = [...new Set(records.map((r) => r.group))];
  const doc = {
    generatedBy: 'packages/elf/scripts/realworld.mjs',
    collection: c.name,
    kernel: osrelease,
    verifier: groups.every(oursIn),
    // the groups whose records carry our verifier's verdicts (--only / --objects record a part)
    verifierGroups: groups.filter(oursIn),
    loaders: Object.fromEntries(groups.map((g) => [g, loaderOf(g)?.loader ?? 'libbpf'])),
    summary: summarize(records),
    groups: Object.fromEntries(groups.map((g) => [g, summarize(records.filter((r) => r.group === g))])),
    records,
  };
  if (!quiet) console.log(`${c.name}: ${JSON.stringify(doc.summary)}`);
  if (!args['no-write']) {
    mkdirSync(fixtures, { recursive: true });
    writeFileSync(path, JSON.stringify(doc, null, 1) + '\n');
  }
}

for (const c of collections) {
  const path = join(fixtures, `${c.name}.json`);
  // --only GROUP of a collection with several: the other groups stay as recorded before;
  // --objects REGEX: only the matching objects are recorded again, the others kept
  const partial = (args.only !== undefined && !args.each) || objectsRe !== undefined;
  // read before anything is written: the JSON is written again after every program (a run
  // stopped half way keeps what it recorded; the rest is recorded by a run with --programs)
  const before = (partial || args['verifier-budget'] !== undefined) && existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined;
  const records = [];
  checkpoint = () => writeCollection(c, path, before, partial, [...records, ...inProgress], true);
  for (const [group, dir] of c.groups) records.push(...(await recordGroup(group, dir)));
  checkpoint = undefined;
  inProgress = [];
  writeCollection(c, path, before, partial, records, false);
}

// The table, over every collection recorded in fixtures/realworld: per collection (and per
// group of a collection that has several), objects, programs, tracing/LSM programs using BTF,
// how many the kernel verifies, how many of those reach our verifier (no loader error),
// `bpf kernel load` agreeing with the kernel, and (when measured) our verifier agreeing.
const docs = existsSync(fixtures)
  ? readdirSync(fixtures)
      .filter((f) => f.endsWith('.json'))
      .sort()
      .map((f) => JSON.parse(readFileSync(join(fixtures, f), 'utf8')))
  : [];
const rows = [];
const total = { objects: 0, programs: 0, tracingBtf: 0, kernelOk: 0, noVerdict: 0, reachedOfOk: 0, cliAgree: 0, oursAgree: 0, oursMeasured: 0, oursNotMeasured: 0, verdicts: 0, objectsRefused: 0 };
for (const d of docs) {
  const groups = [...new Set(d.records.map((r) => r.group))];
  for (const g of groups) {
    const s = summarize(d.records.filter((r) => r.group === g));
    const row = { label: groups.length === 1 && g === d.collection ? d.collection : `${d.collection}/${g}`, loader: d.loaders?.[g] ?? loaderOf(g)?.loader ?? '?', verifier: d.verifierGroups?.includes(g) ?? d.verifier ?? d.records.some((r) => r.ours !== null && r.ours !== undefined), verdicts: s.kernelOk + s.kernelRejects, ...s };
    if (row.programs === 0 && row.objectsRefused === 0 && !row.objectsWithoutPrograms) continue;
    for (const k of Object.keys(total)) if (typeof row[k] === 'number' && (row.verifier || (k !== 'verdicts' && k !== 'oursAgree'))) total[k] += row[k];
    rows.push(row);
  }
}
const oursCell = (r) => (r.verifier ? `${r.oursAgree}/${r.verdicts - (r.oursNotMeasured ?? 0)}${r.oursNotMeasured ? ` (${r.oursNotMeasured} not measured)` : ''}` : '—');
const table = [
  '<!-- realworld -->',
  `Generated by \`node packages/elf/scripts/realworld.mjs --from DIR [--each] [--verifier] [--log-level 2]\` over public objects others wrote (compiled by them, or by us with clang-19 from their sources; not in this repository),`,
  `on Linux ${osrelease}; the verdicts are in the repository's \`fixtures/realworld/<collection>.json\` (a path, not a link: this README is also the npm package's).`,
  '"Tracing/LSM with BTF": kprobe, tracepoint, raw tracepoint, perf event, tracing (fentry, fexit, tp_btf, iter) and LSM programs with a BTF attach target, CO-RE relocations, kfuncs or typed ksyms.',
  '"No verdict": the kernel refused the load before its verifier walked the code (empty log, or no error line in it) or would not create a map, or the object\'s loader refused the program before loading it (an extern this kernel lacks, resolved program by program as cilium/ebpf does); such programs are left out of the agreement counts. "Objects of maps only": objects without programs, whose maps are created as their loader creates them.',
  '',
  '| collection | loader rules | objects | programs | tracing/LSM with BTF | kernel verifies | no verdict | of the verified, reach our verifier | `bpf kernel load` agrees | our verifier agrees (of kernel verdicts) |',
  '|---|---|---|---|---|---|---|---|---|---|',
  ...rows.map((r) => `| ${r.label} | ${r.loader} | ${r.objects} | ${r.programs}${r.objectsRefused ? ` (+${r.objectsRefused} objects refused)` : ''}${r.objectsWithoutPrograms ? ` (+${r.objectsWithoutPrograms} objects of maps only)` : ''} | ${r.tracingBtf} | ${r.kernelOk} | ${r.noVerdict} | ${r.reachedOfOk}/${r.kernelOk} | ${r.cliAgree}/${r.programs} | ${oursCell(r)} |`),
  `| **all** | | ${total.objects} | ${total.programs} | ${total.tracingBtf} | ${total.kernelOk} | ${total.noVerdict} | ${total.reachedOfOk}/${total.kernelOk} | ${total.cliAgree}/${total.programs} | ${total.oursMeasured ? `${total.oursAgree}/${total.verdicts - total.oursNotMeasured} (where measured)` : '—'} |`,
  '<!-- /realworld -->',
].join('\n');
console.log(table);
void worker?.terminate();
if (!args['no-write']) {
  const readmePath = join(here, '../README.md');
  const readme = readFileSync(readmePath, 'utf8');
  if (readme.includes('<!-- realworld -->')) writeFileSync(readmePath, readme.replace(/<!-- realworld -->[\s\S]*<!-- \/realworld -->/, table));
}
