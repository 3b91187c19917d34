#!/usr/bin/env node
// Generates src/helper-protos.ts from a Linux source tree and the kernel's configuration:
//   node scripts/gen-helpers.mjs --linux DIR [--config FILE]
// (FILE: a .config, plain or gzipped such as /proc/config.gz; without it every option is on)
// - every `const struct bpf_func_proto NAME = { ... }` (argument and return types, gpl_only,
//   might_sleep, fixed sizes, BTF ids) of kernel/, net/, security/ and drivers/media/rc/;
// - which prototype each program type gets for each helper id: the kernel decides that in its
//   `*_func_proto` functions (the `get_func_proto` of each program type's bpf_verifier_ops).
//   This script evaluates those functions here, at generation time, for every program type and
//   every attach type the kernel accepts for it (attach_type_to_prog_type in
//   kernel/bpf/syscall.c), as a privileged (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) loader on a
//   kernel without lockdown; only the resulting table is written, no kernel code.
// Names and ids come from include/uapi/linux/bpf.h (__BPF_FUNC_MAPPER).
// src/helper-protos.test.ts checks the result against the running kernel: a call of every
// helper in every program type, its verdict and first error.
import { writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelTree } from './kernel-tree.mjs';

const { linux, read, configFile, config, enabled, stripComments, preprocess, cFiles, version } = kernelTree('gen-helpers.mjs');

// ---- UAPI: helper ids, program types, attach types ----
const uapi = stripComments(read('include/uapi/linux/bpf.h'));
const mapper = uapi.slice(uapi.indexOf('#define ___BPF_FUNC_MAPPER'));
const helperIds = new Map();
for (const m of mapper.slice(0, mapper.indexOf('#define __BPF_FUNC_MAPPER(')).matchAll(/FN\((\w+),\s*(\d+)/g)) helperIds.set(m[1], Number(m[2]));
const enumValues = (name) => enumIn(uapi, name);
function enumIn(text, name) {
  const body = text.slice(text.indexOf(`enum ${name} {`)).split('};')[0];
  const out = new Map();
  let next = 0;
  for (const line of body.split('\n').slice(1)) {
    const m = /^\s*(\w+)\s*(?:=\s*(\w+))?\s*,?\s*$/.exec(line);
    if (!m) continue;
    const v = m[2] === undefined ? next : /^\d+$/.test(m[2]) ? Number(m[2]) : out.get(m[2]);
    out.set(m[1], v);
    next = v + 1;
  }
  return out;
}
const progTypes = enumValues('bpf_prog_type');
const attachTypes = enumValues('bpf_attach_type');
const mapTypes = enumValues('bpf_map_type');

// ---- sources ----
const allFiles = ['kernel', 'net', 'security', 'drivers/media/rc']
  .flatMap((d) => cFiles(d))
  .map((p) => ({ p, text: read(p) }))
  .filter((f) => f.text.includes('bpf_func_proto') || f.text.includes('BTF_ID_LIST') || f.p.startsWith('kernel/bpf/'));
const files = allFiles
  .filter((f) => f.text.includes('bpf_func_proto') || f.p === 'kernel/bpf/trampoline.c')
  .map((f) => ({ p: f.p, text: stripComments(f.text) }));

// ---- struct bpf_func_proto definitions ----
const protos = new Map();
for (const { p, text } of files)
  for (const m of text.matchAll(/(?:static\s+)?const\s+struct\s+bpf_func_proto\s+(\w+)\s*=\s*\{([\s\S]*?)\n\};/g)) {
    const fields = {};
    for (const f of m[2].matchAll(/\.(\w+)\s*=\s*([^,]+?)\s*,?\s*(?=\n|$)/g)) fields[f[1]] = f[2].replace(/\s+/g, ' ').trim();
    if (protos.has(m[1]) && protos.get(m[1]).file !== p) console.warn(`${m[1]} defined in ${protos.get(m[1]).file} and ${p}; keeping the first`);
    else protos.set(m[1], { file: p, fields });
  }

// ---- the *_func_proto functions, turned into JavaScript to be run here ----
const BODY_START = /(?:static\s+)?(?:inline\s+)?(?:const\s+)?(?:struct\s+bpf_func_proto\s*\*|enum\s+bpf_prog_type\s+|bool\s+(?=\w+\s*\(const\s+struct\s+bpf_prog\s*\*\s*prog\)))\s*(\w+)\s*\(([^)]*)\)\s*\{/g;
const functions = new Map();
function bodyAt(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return text.slice(open + 1, i);
  }
  throw new Error('unbalanced braces');
}
function toJs(body) {
  return preprocess(body, { dropDefines: true })
    .replace(/\boffsetof\(\s*struct\s+(\w+),\s*(\w+)\)/g, "'$1.$2'")
    .replace(/^\s*BTF_TYPE_EMIT\([^;]*;/gm, '')
    .replace(/\b__(?:percpu|rcu|user|iomem|must_check)\b/g, '')
    .replace(/\b(?:const\s+)?(?:struct|enum)\s+\w+\s*\*?\s*(\w+)\s*(=|;)/g, 'let $1 $2')
    .replace(/\b(?:int|bool|u32)\s+(\w+)\s*(=|;)/g, 'let $1 $2')
    .replace(/&(\w+)\b(?!\s*\[)/g, "P('$1')")
    .replace(/->/g, '.')
    .replace(/\bNULL\b/g, 'null')
    .replace(/\(\s*(?:const\s+)?struct\s+\w+\s*\*\s*\)/g, '');
}
for (const { p, text } of files)
  for (const m of text.matchAll(BODY_START)) {
    if (functions.has(m[1])) continue;
    const params = m[2].split(',').map((s) => /(\w+)\s*$/.exec(s.trim())?.[1]).filter((s) => s && s !== 'void');
    functions.set(m[1], { file: p, params, js: toJs(bodyAt(text, m.index + m[0].length - 1)) });
  }
// attach_type_to_prog_type lives in syscall.c and returns an enum
{
  const text = stripComments(read('kernel/bpf/syscall.c'));
  const m = /enum\s+bpf_prog_type\s+attach_type_to_prog_type\s*\(([^)]*)\)\s*\{/.exec(text);
  functions.set('attach_type_to_prog_type', { file: 'kernel/bpf/syscall.c', params: ['attach_type'], js: toJs(bodyAt(text, m.index + m[0].length - 1)) });
}

// check_map_func_compatibility (kernel/bpf/verifier.c): which map types each helper takes. Its
// `goto error` ends in the "cannot pass map_type" message, so it becomes a return here.
{
  const text = stripComments(read('kernel/bpf/verifier.c'));
  const m = /static\s+int\s+check_map_func_compatibility\s*\(([^)]*)\)\s*\{/.exec(text);
  const body = bodyAt(text, m.index + m[0].length - 1);
  const js = toJs(body.slice(0, body.lastIndexOf('error:')).replace(/\bgoto\s+error\s*;/g, "return 'error';"));
  functions.set('check_map_func_compatibility', { file: 'kernel/bpf/verifier.c', params: ['env', 'map', 'func_id'], js });
  // helper classes the verifier asks about by id
  for (const [file, name] of [['net/core/filter.c', 'bpf_helper_changes_pkt_data'], ['kernel/bpf/verifier.c', 'is_ptr_cast_function'], ['kernel/bpf/verifier.c', 'is_acquire_function']]) {
    const t = file === 'kernel/bpf/verifier.c' ? text : stripComments(read(file));
    const b = new RegExp(`\\bbool\\s+${name}\\s*\\(([^)]*)\\)\\s*\\{`).exec(t);
    if (!b) throw new Error(`no ${name} in ${file}`);
    const params = b[1].split(',').map((x) => /(\w+)\s*$/.exec(x.trim())[1]);
    functions.set(name, { file, params, js: toJs(bodyAt(t, b.index + b[0].length - 1)) });
  }
  const u = /static\s+bool\s+may_update_sockmap\s*\(([^)]*)\)\s*\{/.exec(text);
  functions.set('may_update_sockmap', { file: 'kernel/bpf/verifier.c', params: ['env', 'func_id'], js: toJs(bodyAt(text, u.index + u[0].length - 1)) });
}

// What the functions call besides each other: the answers of a privileged loader on this kernel.
const shims = {
  P: (name) => ({ proto: name }),
  bpf_token_capable: () => true,
  bpf_capable: () => true,
  perfmon_capable: () => true,
  capable: () => true,
  // the lockdown level a FORCE option sets: integrity locks the reasons before
  // LOCKDOWN_INTEGRITY_MAX (bpf_probe_write_user), confidentiality all of them
  security_locked_down: (reason) => (reason <= lockdownLevel ? -1 : 0),
  pr_warn_ratelimited: () => undefined,
  // the hook a program attaches to decides these (kernel/bpf/bpf_lsm.c); we evaluate without one
  bpf_lsm_is_sleepable_hook: () => false,
  bpf_lsm_is_trusted: () => false,
  bpf_sk_storage_tracing_allowed: () => false,
  resolve_prog_type: (prog) => prog.type,
  // include/linux/bpf_verifier.h: programs that may recurse get the _recur storage helpers
  bpf_prog_check_recur: (prog) =>
    prog.type === progTypes.get('BPF_PROG_TYPE_TRACING') ? prog.expected_attach_type !== attachTypes.get('BPF_TRACE_ITER') : ![progTypes.get('BPF_PROG_TYPE_STRUCT_OPS'), progTypes.get('BPF_PROG_TYPE_LSM')].includes(prog.type),
  IS_ENABLED: () => true,
  // net/ipv4/bpf_tcp_ca.c: the member a struct_ops program implements (not release())
  prog_ops_moff: () => 'tcp_congestion_ops.cong_avoid',
  // check_map_func_compatibility's context: one subprogram, JITed
  verbose: () => undefined,
  allow_tail_call_in_subprogs: () => true,
  // an iterator target's own helpers (tcp/unix iterators' setsockopt, ...) depend on the target
  bpf_iter_get_func_proto: () => null,
};
for (const name of Object.keys(shims)) functions.delete(name);
const lockdownReasons = enumIn(stripComments(read('include/linux/security.h')), 'lockdown_reason');
const lockdownLevel = enabled('CONFIG_LOCK_DOWN_KERNEL_FORCE_CONFIDENTIALITY') && config ? lockdownReasons.get('LOCKDOWN_CONFIDENTIALITY_MAX')
  : enabled('CONFIG_LOCK_DOWN_KERNEL_FORCE_INTEGRITY') && config ? lockdownReasons.get('LOCKDOWN_INTEGRITY_MAX') : -1;
const constants = { ...Object.fromEntries(lockdownReasons), ...Object.fromEntries(progTypes), ...Object.fromEntries(attachTypes), ...Object.fromEntries(mapTypes), CAP_BPF: 39, CAP_PERFMON: 38, CAP_SYS_ADMIN: 21, CAP_NET_ADMIN: 12 };
for (const [n, id] of helperIds) constants[`BPF_FUNC_${n}`] = id;
const known = new Set([...Object.keys(shims), ...Object.keys(constants), ...functions.keys()]);
const compiled = new Map();
function fn(name) {
  let f = compiled.get(name);
  if (f) return f;
  const def = functions.get(name);
  if (!def) throw new Error(`no function ${name}`);
  // every identifier the body reads must be ours: locals, parameters, shims, constants, functions
  const locals = new Set([...def.js.matchAll(/\blet\s+(\w+)/g)].map((m) => m[1]));
  const words = new Set(def.js.replace(/'[^']*'|"(?:[^"\\]|\\.)*"/g, '').replace(/\.\s*\w+/g, '').match(/\b[A-Za-z_]\w*\b/g));
  const js = /\b(?:let|return|switch|case|default|break|if|else|null|true|false|typeof|P)\b/;
  const missing = [...words].filter((w) => !js.test(w) && !known.has(w) && !locals.has(w) && !def.params.includes(w));
  const scope = { ...shims, ...constants };
  for (const w of missing) scope[w] = new RegExp(`\\b${w}\\s*\\(`).test(def.js) ? () => ({}) : {};
  for (const other of functions.keys()) if (words.has(other) && other !== name) Object.defineProperty(scope, other, { get: () => fn(other), enumerable: true });
  const names = Object.keys(scope);
  f = new Function(...names, `return function ${name}(${def.params.join(', ')}) {\n${def.js}\n}`)(...names.map((n) => scope[n]));
  f.missing = missing;
  compiled.set(name, f);
  return f;
}

// ---- every program type (and each attach type the kernel accepts for it) ----
const opsProto = new Map();
for (const { text } of files)
  for (const m of text.matchAll(/const\s+struct\s+bpf_verifier_ops\s+(\w+)_verifier_ops\s*=\s*\{([\s\S]*?)\};/g)) {
    const g = /\.get_func_proto\s*=\s*(\w+)/.exec(m[2]);
    if (g) opsProto.set(m[1], g[1]);
  }
const typesH = preprocess(stripComments(read('include/linux/bpf_types.h')));
const progOps = new Map();
for (const m of typesH.matchAll(/BPF_PROG_TYPE\(BPF_PROG_TYPE_(\w+),\s*(\w+)/g)) progOps.set(m[1].toLowerCase(), m[2]);
const attachOf = new Map();
const a2p = fn('attach_type_to_prog_type');
for (const [name, v] of attachTypes) {
  if (name.startsWith('__')) continue;
  const t = a2p(v);
  if (t === undefined || t === progTypes.get('BPF_PROG_TYPE_UNSPEC')) continue;
  const tn = [...progTypes].find(([, x]) => x === t)[0].replace('BPF_PROG_TYPE_', '').toLowerCase();
  if (!attachOf.has(tn)) attachOf.set(tn, []);
  attachOf.get(tn).push(name);
}
// program types whose attach types attach_type_to_prog_type does not list (kernel/bpf/syscall.c
// bpf_prog_load_check_attach): tracing, LSM and the classic ones that ignore expected_attach_type
attachOf.set('tracing', ['BPF_TRACE_RAW_TP', 'BPF_TRACE_FENTRY', 'BPF_TRACE_FEXIT', 'BPF_MODIFY_RETURN', 'BPF_TRACE_ITER']);
attachOf.set('lsm', ['BPF_LSM_MAC']);
const attachName = (a) => a.replace(/^BPF_/, '').toLowerCase();

const helperNames = [...helperIds.keys()];
const usedProtos = new Set();
const unresolved = new Set();
const missingIds = new Set();
/** The prototype `get` answers for each helper id, as `id -> proto name`. */
function table(get, prog) {
  const out = {};
  for (const [n, id] of helperIds) {
    if (id === 0) continue;
    let r;
    try {
      r = get(id, prog);
    } catch (e) {
      throw new Error(`${get.name}(${n}): ${e.message}`);
    }
    if (r === null || r === undefined) continue;
    if (!protos.has(r.proto)) {
      unresolved.add(r.proto);
      continue;
    }
    usedProtos.add(r.proto);
    out[id] = r.proto;
  }
  return out;
}
const typeRows = [];
for (const [tn, ops] of progOps) {
  // struct_ops programs get their struct's verifier_ops: taken as tcp_congestion_ops' (the
  // commonest; it adds tcp_send_ack and socket storage to the base set); an extension gets its
  // target's, taken as the base set
  const getName = opsProto.get(ops) ?? (tn === 'struct_ops' ? 'bpf_tcp_ca_get_func_proto' : tn === 'ext' ? 'bpf_base_func_proto' : undefined);
  if (!getName) {
    console.warn(`no get_func_proto for ${tn} (${ops})`);
    continue;
  }
  const get = fn(getName);
  const typeNum = progTypes.get(`BPF_PROG_TYPE_${tn.toUpperCase()}`);
  const attaches = attachOf.get(tn) ?? [];
  // bpf_prog_load_fixup_attach_type: cgroup/sock programs loaded without one get sock_create
  const dflt = tn === 'cgroup_sock' ? attachTypes.get('BPF_CGROUP_INET_SOCK_CREATE') : attaches.length && !['sched_cls', 'sched_act', 'sk_skb', 'sk_msg', 'flow_dissector', 'xdp', 'lirc_mode2', 'sk_lookup'].includes(tn) ? attachTypes.get(attaches[0]) : 0;
  const prog = (a) => ({ type: typeNum, expected_attach_type: a, aux: { sleepable: false, token: null, attach_btf_id: 0 }, sleepable: false, gpl_compatible: true });
  const base = table(get, prog(dflt));
  const byAttach = {};
  for (const a of attaches) {
    const t = table(get, prog(attachTypes.get(a)));
    const diff = {};
    for (const id of new Set([...Object.keys(base), ...Object.keys(t)])) if (base[id] !== t[id]) diff[id] = t[id] ?? null;
    if (Object.keys(diff).length) byAttach[attachName(a)] = diff;
  }
  const dfltName = [...attachTypes].find(([, v]) => v === dflt)?.[0];
  typeRows.push({ tn, getName, dflt: dflt && dfltName ? attachName(dfltName) : undefined, base, byAttach });
}
for (const [name, f] of compiled) if (f.missing.length) console.warn(`${name}: treated as unset: ${f.missing.join(', ')}`);
if (unresolved.size) console.warn(`protos returned but not found: ${[...unresolved].join(', ')}`);
for (const [n, id] of helperIds) if (id && !typeRows.some((r) => r.base[id] || Object.values(r.byAttach).some((d) => d[id]))) missingIds.add(`${n}#${id}`);
// their prototypes all the same (found by the kernel's naming, bpf_<name>_proto), so that every
// helper of the UAPI has one
const gated = {};
for (const [n, id] of helperIds) {
  if (!missingIds.has(`${n}#${id}`)) continue;
  const proto = [`bpf_${n}_proto`, `${n}_proto`].find((x) => protos.has(x));
  if (!proto) throw new Error(`no prototype found for ${n}#${id}`);
  usedProtos.add(proto);
  gated[id] = proto;
}
if (missingIds.size) console.warn(`helpers no program type gets with this configuration: ${[...missingIds].join(', ')}`);

// ---- map types each helper accepts ----
const compat = fn('check_map_func_compatibility');
const mapName = (n) => n.replace('BPF_MAP_TYPE_', '').toLowerCase();
const liveMaps = [...mapTypes].filter(([n, v]) => !n.startsWith('__') && v !== 0);
const ids = [...helperIds.values()].filter((id) => id);
/** The (map type, helper) pairs the kernel allows for a program of type `t` (with its default attach type). */
function compatFor(t, attach) {
  const ok = new Set();
  for (const [mn, mv] of liveMaps)
    for (const id of ids) if (compat({ subprog_cnt: 1, prog: { type: t, expected_attach_type: attach, aux: {} } }, { map_type: mv }, id) !== 'error') ok.add(`${mapName(mn)}:${id}`);
  return ok;
}
const baseCompat = compatFor(progTypes.get('BPF_PROG_TYPE_KPROBE'), 0);
const mapRows = liveMaps.map(([mn]) => {
  const n = mapName(mn);
  const yes = ids.filter((id) => baseCompat.has(`${n}:${id}`));
  // long lists are written as the helpers left out
  const text = yes.length > ids.length / 2 ? `!${ids.filter((id) => !yes.includes(id)).join(' ')}` : yes.join(' ');
  return `  ${n}: '${text}',`;
});
const compatByType = [];
for (const r of typeRows) {
  const t = progTypes.get(`BPF_PROG_TYPE_${r.tn.toUpperCase()}`);
  const a = r.dflt ? attachTypes.get(`BPF_${r.dflt.toUpperCase()}`) : 0;
  const mine = compatFor(t, a);
  const extra = [...mine].filter((c) => !baseCompat.has(c));
  const fewer = [...baseCompat].filter((c) => !mine.has(c));
  if (fewer.length) throw new Error(`${r.tn}: map/helper pairs fewer than kprobe's: ${fewer.join(' ')}`);
  if (extra.length) compatByType.push(`  ${r.tn}: '${extra.join(' ')}',`);
}
// BTF id sets the `allowed` checks of prototypes consult (bpf_d_path's attach points,
// the sleepable LSM hooks), as function names
const btfSets = {};
for (const name of ['btf_allowlist_d_path', 'sleepable_lsm_hooks'])
  for (const { text } of allFiles) {
    const m = new RegExp(`BTF_SET_START\\(${name}\\)([\\s\\S]*?)BTF_SET_END\\(${name}\\)`).exec(text);
    if (m) btfSets[name] = [...preprocess(m[1]).matchAll(/BTF_ID\(\w+,\s*(\w+)\)/g)].map((x) => x[1]);
  }
// helpers of each class (acquire: with no map; a sockmap/sockhash lookup acquires too)
const classes = {};
for (const name of ['bpf_helper_changes_pkt_data', 'is_ptr_cast_function', 'is_acquire_function']) {
  const f = fn(name);
  classes[name] = ids.filter((id) => f(id, null));
}
// one name per value: an alias (`BPF_MAP_TYPE_CGROUP_STORAGE = BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED`)
// takes its value's slot, so the index stays the number the kernel prints
const mapNames = [];
for (const [n, v] of mapTypes) if (!n.startsWith('__')) mapNames[v] = mapName(n);

// ---- the prototype rows, in the kernel's terms ----
const FIELDS = ['arg1', 'arg2', 'arg3', 'arg4', 'arg5'];
const protoNames = [...usedProtos].sort();
const index = new Map(protoNames.map((n, i) => [n, i]));
const q = (s) => `'${s}'`;
function sizeOf(v) {
  if (v === undefined) return undefined;
  const m = /sizeof\((?:struct\s+)?(\w+)\)/.exec(v);
  const sizes = { u64: 8, s64: 8, long: 8, 'unsigned long': 8, u32: 4, int: 4, s32: 4, u16: 2, u8: 1, bpf_fib_lookup: 64, bpf_tcp_sock: 112, bpf_xfrm_state: 40, bpf_tunnel_key: 44, bpf_redir_neigh: 20, iphdr: 20, ipv6hdr: 40, tcphdr: 20 };
  if (m && sizes[m[1]] !== undefined) return sizes[m[1]];
  if (/^\d+$/.test(v)) return Number(v);
  throw new Error(`size ${v}: add it to sizeOf`);
}
// BTF ids the prototypes point at, as the struct names they stand for (include/linux/btf_ids.h
// BTF_SOCK_TYPE / BTF_TRACING_TYPE, and the BTF_ID_LIST(_SINGLE) lists of the sources)
const idLists = new Map();
{
  const h = read('include/linux/btf_ids.h');
  for (const m of h.matchAll(/BTF_(?:SOCK|TRACING)_TYPE\((\w+),\s*(\w+)\)/g)) idLists.set(m[1], m[2]);
  for (const { text } of allFiles) {
    for (const m of text.matchAll(/BTF_ID_LIST(?:_GLOBAL)?_SINGLE\((\w+),\s*\w+,\s*(\w+)\)/g)) idLists.set(`${m[1]}[0]`, m[2]);
    for (const m of text.matchAll(/BTF_ID_LIST(?:_GLOBAL)?\((\w+)(?:,\s*\d+)?\)\s*((?:BTF_ID\(\w+,\s*\w+\)\s*)+)/g))
      [...m[2].matchAll(/BTF_ID\(\w+,\s*(\w+)\)/g)].forEach((b, i) => idLists.set(`${m[1]}[${i}]`, b[1]));
  }
}
function btfId(v) {
  if (v === undefined) return undefined;
  if (v === 'BPF_PTR_POISON') return v;
  // net/ipv4/bpf_tcp_ca.c finds `struct tcp_sock` at init into this variable
  if (v === '&tcp_sock_id') return 'tcp_sock';
  const m = /^&(\w+)\[\s*(\w+)\s*\]$/.exec(v);
  const name = m && (/^\d+$/.test(m[2]) ? idLists.get(`${m[1]}[${m[2]}]`) : idLists.get(m[2]));
  if (!name) throw new Error(`BTF id ${v}: not found in a BTF_ID list`);
  return name;
}
const rows = protoNames.map((n) => {
  const f = protos.get(n).fields;
  const parts = [`func: ${q(f.func)}`];
  if (f.gpl_only === 'true') parts.push('gpl: true');
  if (f.might_sleep === 'true') parts.push('sleep: true');
  if (f.pkt_access === 'true') parts.push('pkt: true');
  if (f.allowed) parts.push(`allowed: ${q(f.allowed)}`);
  parts.push(`ret: ${q(f.ret_type ?? 'RET_INTEGER')}`);
  if (f.ret_btf_id) parts.push(`retBtf: ${q(btfId(f.ret_btf_id))}`);
  const args = [];
  for (const a of FIELDS) {
    const t = f[`${a}_type`];
    if (t === undefined || t === 'ARG_DONTCARE') break;
    const s = sizeOf(f[`${a}_size`]);
    const b = btfId(f[`${a}_btf_id`]);
    args.push(s !== undefined || b !== undefined ? `{ type: ${q(t)}${s !== undefined ? `, size: ${s}` : ''}${b !== undefined ? `, btf: ${q(b)}` : ''} }` : q(t));
  }
  parts.push(`args: [${args.join(', ')}]`);
  return `  /* ${n} (${protos.get(n).file}) */ { ${parts.join(', ')} },`;
});

const encode = (t) =>
  Object.entries(t)
    .map(([id, p]) => (p === null ? `${id}:-` : `${id}:${index.get(p)}`))
    .join(' ');
const typeLines = typeRows.map((r) => {
  const by = Object.entries(r.byAttach).map(([a, d]) => `${a}: '${encode(d)}'`);
  return `  ${r.tn}: { get: ${q(r.getName)}${r.dflt ? `, attach: ${q(r.dflt)}` : ''}, ids: '${encode(r.base)}'${by.length ? `, byAttach: { ${by.join(', ')} }` : ''} },`;
});

let out = `// Generated by scripts/gen-helpers.mjs --linux DIR --config FILE from Linux ${version} sources
// and ${config ? 'a kernel configuration (the running kernel\'s /proc/config.gz)' : 'every option enabled'}; do not edit by hand.
// Read: include/uapi/linux/bpf.h (__BPF_FUNC_MAPPER), include/linux/bpf_types.h, every
// \`struct bpf_func_proto\` of kernel/, net/, security/ and drivers/media/rc/, each program type's
// get_func_proto evaluated for a privileged loader, check_map_func_compatibility,
// bpf_helper_changes_pkt_data, is_acquire_function and is_ptr_cast_function.

/** A helper argument as \`struct bpf_func_proto\` declares it: its type, fixed size, BTF id. */
export type ProtoArg = string | { readonly type: string; readonly size?: number; readonly btf?: string };

/** \`struct bpf_func_proto\` in the kernel's terms (gpl_only, might_sleep, pkt_access, allowed). */
export interface ProtoRow {
  readonly func: string;
  readonly gpl?: true;
  readonly sleep?: true;
  readonly pkt?: true;
  readonly allowed?: string;
  readonly ret: string;
  readonly retBtf?: string;
  readonly args: readonly ProtoArg[];
}

/** Every prototype some program type gets; the program-type table refers to them by index. */
export const PROTOS: readonly ProtoRow[] = [
${rows.join('\n')}
];

/**
 * Per program type (its get_func_proto): \`id:proto\` pairs (PROTOS indexes) for the default
 * expected_attach_type (\`attach\`), and per other attach type what differs (\`-\`: not available).
 */
export const PROG_TYPE_HELPERS: Readonly<Record<string, { readonly get: string; readonly attach?: string; readonly ids: string; readonly byAttach?: Readonly<Record<string, string>> }>> = {
${typeLines.join('\n')}
};
`;
out += `
/** \`enum bpf_map_type\` names by value (\`cannot pass map_type N\` prints the value). */
export const MAP_TYPE_NAMES: readonly string[] = [${mapNames.map(q).join(', ')}];

/**
 * check_map_func_compatibility: the helper ids that may take a map of each type (only helpers
 * with a map argument ask; \`!\` lists the ones left out instead).
 */
export const MAP_TYPE_HELPERS: Readonly<Record<string, string>> = {
${mapRows.join('\n')}
};

/** bpf_helper_changes_pkt_data (net/core/filter.c): helpers after which packet pointers are invalid. */
export const PKT_CHANGING_HELPERS: readonly number[] = [${classes.bpf_helper_changes_pkt_data.join(', ')}];

/** is_acquire_function (kernel/bpf/verifier.c): helpers whose returned pointer holds a new reference. */
export const ACQUIRE_HELPERS: readonly number[] = [${classes.is_acquire_function.join(', ')}];

/** is_ptr_cast_function: helpers whose returned pointer keeps the reference of their argument. */
export const PTR_CAST_HELPERS: readonly number[] = [${classes.is_ptr_cast_function.join(', ')}];

/**
 * Helpers no program type gets with the configuration the table was made for (options off,
 * lockdown), with the prototype a kernel that has them gives.
 */
export const CONFIG_GATED: string = '${encode(gated)}';

/** BTF_SET lists the \`allowed\` checks read: functions by name. */
export const BTF_SETS: Readonly<Record<string, readonly string[]>> = {
${Object.entries(btfSets).map(([k, v]) => `  ${k}: [${v.map(q).join(', ')}],`).join('\n')}
};

/** \`map:helper\` pairs a program type may use beyond those (may_update_sockmap: sockmap updates). */
export const MAP_TYPE_HELPERS_BY_PROG: Readonly<Record<string, string>> = {
${compatByType.join('\n')}
};
`;
const dest = join(dirname(fileURLToPath(import.meta.url)), '../src/helper-protos.ts');
writeFileSync(dest, out);
console.log(`wrote ${relative(process.cwd(), dest)}: ${protoNames.length} prototypes, ${typeRows.length} program types, ${helperIds.size - 1} helper ids`);
