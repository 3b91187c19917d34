import { it } from 'vitest';
import { verify } from './index.js';
import { buildC, fixtureSource, kernelBtf, kernelVerdict, kernelApi } from './kernel.test.helper.js';
it('peaks', { timeout: 1800000 }, () => {
  for (const [dir, file, h] of [["callbacks", "find_vma.c", "callbacks.h"], ["callbacks", "for_each.c", "callbacks.h"], ["dynptr", "dynptr.c", "dynptr.h"], ["dynptr", "fill.c", "dynptr.h"], ["dynptr", "user_ringbuf.c", "dynptr.h"], ["elf", "btf_refused.c", "bpf_defs.h"], ["elf", "calls.c", "bpf_defs.h"], ["elf", "core.c", "bpf_defs.h"], ["elf", "core_narrow.c", "bpf_defs.h"], ["elf", "externs.c", "bpf_defs.h"], ["elf", "hidden_subprog.c", "bpf_defs.h"], ["elf", "legacy_maps.c", "bpf_defs.h"], ["elf", "map_fields.c", "bpf_defs.h"], ["elf", "map_in_map.c", "bpf_defs.h"], ["elf", "maps.c", "bpf_defs.h"], ["elf", "maps_only.c", "bpf_defs.h"], ["elf", "minimal.c", "bpf_defs.h"], ["elf", "optional.c", "bpf_defs.h"], ["elf", "reject_global_callback.c", "bpf_defs.h"], ["elf", "struct_ops.c", "bpf_defs.h"], ["elf", "tracing.c", "bpf_defs.h"], ["elf", "trampoline.c", "bpf_defs.h"], ["elf", "typeless_ksym.c", "bpf_defs.h"], ["elf-shapes", "bpf_load_maps.c", "shapes.h"], ["elf-shapes", "iproute2_maps.c", "shapes.h"], ["exceptions", "exceptions.c", "exceptions.h"], ["exceptions", "unwind.c", "exceptions.h"], ["global", "global.c", "global.h"], ["global", "progtypes.c", "global.h"], ["global", "sleepmaps.c", "global.h"], ["iters", "iters.c", "iters.h"], ["iters", "sleepable.c", "iters.h"], ["kptr", "graph.c", "kptr.h"], ["kptr", "graph_peek.c", "kptr.h"], ["kptr", "graph_rules.c", "kptr.h"], ["kptr", "kptr.c", "kptr.h"], ["kptr", "shared_call.c", "kptr.h"], ["locks", "fields.c", "locks.h"], ["locks", "globals.c", "locks.h"], ["locks", "innermaps.c", "locks.h"], ["locks", "locks.c", "locks.h"], ["locks", "reslocks.c", "locks.h"], ["locks", "taskwork.c", "locks.h"], ["locks", "timers.c", "locks.h"], ["locks", "wq.c", "locks.h"], ["loops", "loops.c", "loops.h"], ["progs", "callbacks.c", "progs.h"], ["progs", "globals.c", "progs.h"], ["progs", "loops.c", "progs.h"], ["progs", "maps_hash.c", "progs.h"], ["progs", "reject.c", "progs.h"], ["progs", "root_allowed.c", "progs.h"], ["progs", "socket_filter.c", "progs.h"], ["progs", "strings.c", "progs.h"], ["progs", "subprogs.c", "progs.h"], ["progs", "tail_calls.c", "progs.h"], ["progs", "tc_mark.c", "progs.h"], ["progs", "tracing.c", "progs.h"], ["progs", "xdp_parse.c", "progs.h"]]) {
    let src; try { src = fixtureSource(dir, file, h); } catch { continue; }
    for (const p of buildC(src)) {
      for (const lvl of [1, 2]) {
        const k = kernelVerdict(p, { logLevel: lvl });
        const o = verify(p, { kernelBtf: kernelBtf(), logLevel: lvl, nrCpuIds: kernelApi!.possibleCpus() });
        const re = /max_states_per_insn \d+ total_states \d+ peak_states \d+/;
        const a = re.exec(o.log)?.[0], b = re.exec(k.log)?.[0];
        if (a !== b) console.log(file, p.name, lvl, 'ours', a, 'kernel', b);
      }
    }
  }
});
