/**
 * Kernel symbols a program names through the kernel's BTF (kernel/bpf/verifier.c
 * check_pseudo_btf_id): `extern const struct rq runqueues __ksym;` is a `ld_imm64` of
 * BPF_PSEUDO_BTF_ID whose imm is the VAR's id. A per-CPU variable (in the `.data..percpu`
 * DATASEC) gives `percpu_ptr_<type>`, which only bpf_this_cpu_ptr / bpf_per_cpu_ptr turn into
 * something readable; another struct variable a plain `ptr_<struct>`; any other variable
 * read-only memory of its size; a function read-only memory of size 0. Also bpf_rdonly_cast's
 * result (kernel/bpf/verifier.c check_kfunc_call): an untrusted pointer of the BTF type it is
 * given, or untrusted read-only memory for `void`.
 */
import { btfString, nameIndex, typeById, type Btf, type BtfType } from '@bpf/btf';
import type { Env } from './env.js';
import { allocated } from './kptr.js';
import { btfPtr, btfPtrType } from './nullable.js';
import { pointer, type Reg } from './state.js';

const MODIFIER = new Set(['TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT', 'TYPE_TAG']);
const skipModifiers = (btf: Btf, id: number): BtfType | undefined => {
  let t = typeById(btf, id);
  for (let guard = 0; t && MODIFIER.has(t.kind) && guard < 64; guard++) t = typeById(btf, t.sizeOrType);
  return t;
};
const isStruct = (t: BtfType | undefined): boolean => t?.kind === 'STRUCT' || t?.kind === 'UNION';

/** btf_resolve_size: the size of a sized type (arrays multiplied out, modifiers and typedefs skipped). */
function resolveSize(btf: Btf, id: number): number | undefined {
  let mult = 1;
  for (let guard = 0; guard < 64; guard++) {
    const t = typeById(btf, id);
    if (!t) return undefined;
    if (MODIFIER.has(t.kind)) id = t.sizeOrType;
    else if (t.kind === 'ARRAY') {
      mult *= t.nelems;
      id = t.elemType;
    } else if (t.kind === 'PTR') return 8 * mult;
    else if (t.kind === 'INT' || t.kind === 'ENUM' || t.kind === 'ENUM64' || t.kind === 'FLOAT' || isStruct(t)) return t.sizeOrType * mult;
    else return undefined;
  }
  return undefined;
}

const percpuVars = new WeakMap<Btf, ReadonlySet<number>>();

/** The VAR ids of the kernel's `.data..percpu` DATASEC (find_btf_percpu_datasec). */
function percpu(btf: Btf): ReadonlySet<number> {
  let s = percpuVars.get(btf);
  if (!s) {
    const ids = new Set<number>();
    // a parsed BTF: its DATASECs of that name from its name index (a kernel's has some 130k types)
    const named = nameIndex(btf)?.ids('.data..percpu', ['DATASEC']);
    for (const id of named ?? []) {
      const t = typeById(btf, id);
      if (t?.kind === 'DATASEC') for (const v of t.secinfo) ids.add(v.type);
    }
    if (!named)
      for (let id = btf.firstId; id < btf.types.length; id++) {
        const t = btf.types[id];
        if (t?.kind === 'DATASEC' && btfString(btf, t.nameOff) === '.data..percpu') for (const v of t.secinfo) ids.add(v.type);
      }
    percpuVars.set(btf, (s = ids));
  }
  return s;
}

/** btf_type_name: the name a pointer's type prints with (`rq`, `int`; '' for unnamed types). */
const typeName = (btf: Btf, id: number): string => {
  const t = typeById(btf, id);
  return t && t.nameOff ? btfString(btf, t.nameOff) : '';
};

/** The register a `ld_imm64` of BPF_PSEUDO_BTF_ID gives; undefined without the kernel's BTF. */
export function ksymReg(env: Env, pc: number, id: number): Reg | undefined {
  const btf = env.load.kernelBtf;
  if (!btf) return undefined;
  const t = typeById(btf, id);
  if (!t || id === 0) env.reject(pc, `ldimm64 insn specifies invalid btf_id ${id}.`);
  if (t.kind !== 'VAR' && t.kind !== 'FUNC') env.reject(pc, `pseudo btf_id ${id} in ldimm64 isn't KIND_VAR or KIND_FUNC`);
  const sym = t.nameOff ? btfString(btf, t.nameOff) : '';
  if (!env.load.hasKernelSymbol(sym)) env.reject(pc, `ldimm64 failed to find the address for kernel symbol '${sym}'.`);
  if (t.kind === 'FUNC') return pointer('rdonly_mem', { memSize: 0 });
  const type = t.sizeOrType;
  const target = skipModifiers(btf, type);
  if (percpu(btf).has(id)) {
    // the pointee's size rides along for bpf_this_cpu_ptr when it is not a struct
    const size = isStruct(target) ? undefined : resolveSize(btf, type);
    return pointer(btfPtrType(typeName(btf, type), 'percpu_'), size !== undefined ? { memSize: size } : {});
  }
  if (isStruct(target)) return pointer(btfPtrType(typeName(btf, type)));
  const size = resolveSize(btf, type);
  if (size === undefined) env.reject(pc, `ldimm64 unable to resolve the size of type '${target && target.nameOff ? btfString(btf, target.nameOff) : ''}': -22`);
  return pointer('rdonly_mem', { memSize: size });
}

/**
 * R0 of bpf_this_cpu_ptr / bpf_per_cpu_ptr (RET_PTR_TO_MEM_OR_BTF_ID | MEM_RDONLY): a per-CPU
 * struct becomes a plain `ptr_<struct>`, anything else read-only memory of its size.
 */
export function percpuHelperReturn(env: Env, arg: Reg, maybeNull: boolean): Reg {
  const name = /ptr_(.*)$/.exec(arg.type)?.[1] ?? '';
  // a per-CPU allocated object read from a kptr under RCU (MEM_RCU): this CPU's copy is an
  // allocated object of the program's BTF, RCU-protected and never NULL (returns_cpu_specific_alloc_ptr)
  if (btfPtr(arg.type)?.flag.includes('rcu_')) return pointer(btfPtrType(name, 'rcu_'), allocated(env, name));
  const id = maybeNull ? { id: env.nextId() } : {};
  if (arg.memSize === undefined) return pointer(btfPtrType(name, '', maybeNull), id);
  return pointer(maybeNull ? 'rdonly_mem_or_null' : 'rdonly_mem', { memSize: arg.memSize, ...id });
}

/** bpf_rdonly_cast(obj, btf_id): an untrusted pointer to the kernel struct `btf_id`, or untrusted read-only memory for void. */
export function rdonlyCast(env: Env, pc: number, btfId: bigint | undefined): Reg {
  const btf = env.load.kernelBtf;
  const id = Number(btfId ?? 0n);
  if (id === 0) return pointer('rdonly_untrusted_mem', { memSize: 0 });
  const t = btf ? typeById(btf, id) : undefined;
  if (!btf || !t) return env.reject(pc, `Unknown type ID ${id} passed to kfunc bpf_rdonly_cast`);
  if (!isStruct(t)) env.reject(pc, 'kfunc bpf_rdonly_cast type ID argument must be of a struct or void');
  return pointer(btfPtrType(typeName(btf, id), 'untrusted_'));
}
