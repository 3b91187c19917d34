#!/usr/bin/env node
// Generates src/kfunc-sets.ts from a Linux source tree and the kernel's configuration:
//   node scripts/gen-kfuncs.mjs --linux DIR [--config FILE]
// (FILE: a .config, plain or gzipped such as /proc/config.gz; without it every option is on)
// Read, in every .c file of kernel/, net/, fs/, security/ and drivers/ the tree has, after the
// #if/#ifdef blocks the configuration turns off are dropped:
// - each `BTF_KFUNCS_START(ids) ... BTF_KFUNCS_END(ids)` (and the older BTF_SET8_START/END form)
//   and its `BTF_ID_FLAGS(func, name, KF_...)` rows: a kfunc and its flags;
// - each `struct btf_kfunc_id_set NAME = { .set = &ids, .filter = fn }`;
// - each `register_btf_kfunc_id_set(BPF_PROG_TYPE_..., &NAME)` call: the program type the set is
//   registered for (BPF_PROG_TYPE_UNSPEC: the common hook, every program type);
// - each `register_btf_fmodret_id_set(&NAME)` call: functions fmod_ret programs may attach to
//   (the fmodret hook), which no program may call unless another set registers them too.
// Flag names are include/linux/btf.h's KF_ names without the prefix, lower case.
// src/kfunc-sets.test.ts checks the result against the running kernel's BTF (its bpf_kfunc
// decl tags). src/kfuncs.ts reads the table; what the sources cannot give (the kfuncs the
// verifier knows by BTF id, the filters' logic) and where the running kernel differs from the
// sources (KFUNC_TRUSTED_ARGS_BY_DEFAULT) are kept there, documented, never in the output.
import { readdirSync, readFileSync, existsSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelTree } from './kernel-tree.mjs';

const { linux, read, configFile, enabled, stripComments, preprocess, cFiles, version } = kernelTree('gen-kfuncs.mjs');
const uapi = stripComments(read('include/uapi/linux/bpf.h'));
const progTypeNames = new Set([...uapi.matchAll(/\bBPF_PROG_TYPE_(\w+)/g)].map((m) => m[1].toLowerCase()));

const roots = ['kernel', 'net', 'fs', 'security', 'drivers'].filter((d) => existsSync(join(linux, d)));
const files = roots
  .flatMap((d) => cFiles(d))
  .sort()
  .map((p) => ({ p, raw: read(p) }))
  .filter((f) => /BTF_KFUNCS_START|BTF_SET8_START|register_btf_kfunc_id_set|register_btf_fmodret_id_set/.test(f.raw))
  .filter((f) => built(f.p))
  .map((f) => ({ p: f.p, text: expandLists(f.raw, preprocess(stripComments(f.raw))) }));


/**
 * Whether the configuration builds `file`: the `obj-$(CONFIG_X) += file.o` (or a composite
 * object's `name-$(CONFIG_X) += file.o`, followed to that object's own line) of its directory's
 * Makefile, or the #if around an `#include "file.c"` of a sibling file (kernel/sched's
 * build_policy.c). A file found in neither counts as built; directories are not followed.
 */
function built(file, seen = new Set()) {
  const dir = dirname(file);
  const base = file.slice(dir.length + 1).replace(/\.[co]$/, '');
  if (seen.has(`${dir}/${base}`)) return true;
  seen.add(`${dir}/${base}`);
  const mk = join(linux, dir, 'Makefile');
  if (existsSync(mk)) {
    const text = readFileSync(mk, 'utf8').replace(/\\\n/g, ' ');
    const lines = text.split('\n').filter((l) => new RegExp(`[:+]?=.*(?:^|[\\s/])${base.replace(/[.+]/g, '\\$&')}\\.o\\b`).test(l));
    if (lines.length > 0)
      return lines.some((l) => {
        const m = /^\s*([\w-]+?)-(?:\$\((CONFIG_\w+)\)|(y|objs))\s*[:+]?=/.exec(l);
        if (!m) return true;
        if (m[2] !== undefined && !enabled(m[2])) return false;
        return m[1] === 'obj' || m[1] === 'lib' ? true : built(join(dir, `${m[1]}.o`), seen);
      });
  }
  for (const sib of existsSync(join(linux, dir)) ? readdirSync(join(linux, dir)).filter((e) => e.endsWith('.c')) : []) {
    const raw = read(join(dir, sib));
    if (!raw.includes(`"${base}.c"`)) continue;
    return new RegExp(`#\\s*include\\s*"${base}\\.c"`).test(preprocess(stripComments(raw))) && built(join(dir, sib), seen);
  }
  return true;
}

/** Object-like #defines of the headers a file includes (<linux/...>, <net/...>), by name. */
function headerMacros(raw) {
  const out = new Map();
  for (const inc of raw.matchAll(/#\s*include\s*<((?:linux|net)\/[\w/.-]+)>/g)) {
    const h = join('include', inc[1]);
    if (!existsSync(join(linux, h))) continue;
    for (const m of stripComments(read(h)).replace(/\\\n/g, ' ').matchAll(/^\s*#\s*define\s+(\w+)(?!\()\s+(.*)$/gm)) out.set(m[1], m[2]);
  }
  return out;
}

/**
 * Inside the id lists, a list macro (net/core/xdp.c: `#define XDP_METADATA_KFUNC(_, __, name, ___)
 * BTF_ID_FLAGS(func, name, KF_TRUSTED_ARGS)` then `XDP_METADATA_KFUNC_xxx` from include/net/xdp.h)
 * is expanded into the BTF_ID_FLAGS rows it stands for.
 */
function expandLists(raw, text) {
  if (!/#\s*define\s+\w+\([^)]*\)\s+BTF_ID_FLAGS/.test(text)) return text;
  const headers = headerMacros(raw);
  return text.replace(/\b(BTF_KFUNCS_START|BTF_SET8_START)\s*\(\s*(\w+)\s*\)([\s\S]*?)\b(BTF_KFUNCS_END|BTF_SET8_END)\s*\(\s*\2\s*\)/g, (all, start, ids, body, end) => {
    let template;
    const lines = body.split('\n').map((line) => {
      const d = /^\s*#\s*define\s+(\w+)\(([^)]*)\)\s+BTF_ID_FLAGS\s*\(\s*func\s*,\s*(\w+)\s*(,[^)]*)?\)/.exec(line);
      if (d) {
        template = { name: d[1], params: d[2].split(',').map((x) => x.trim()), func: d[3], flags: d[4] ?? '' };
        return '';
      }
      if (/^\s*#/.test(line)) return '';
      const id = /^\s*(\w+)\s*$/.exec(line)?.[1];
      if (!template || id === undefined || !headers.has(id)) return line;
      const at = template.params.indexOf(template.func);
      const calls = [...headers.get(id).matchAll(new RegExp(`\\b${template.name}\\s*\\(([^)]*)\\)`, 'g'))];
      return calls.map((c) => `BTF_ID_FLAGS(func, ${c[1].split(',')[at].trim()}${template.flags})`).join('\n');
    });
    return `${start}(${ids})${lines.join('\n')}${end}(${ids})`;
  });
}

/** kfunc name -> { flags, registrations: [{ set, file, type, filter }] } */
const kfuncs = new Map();
const registered = [];
for (const { p, text } of files) {
  // the id lists of this file
  const lists = new Map();
  for (const m of text.matchAll(/\b(?:BTF_KFUNCS_START|BTF_SET8_START)\s*\(\s*(\w+)\s*\)([\s\S]*?)\b(?:BTF_KFUNCS_END|BTF_SET8_END)\s*\(\s*\1\s*\)/g)) {
    const rows = [];
    for (const r of m[2].matchAll(/\bBTF_ID_FLAGS\s*\(\s*func\s*,\s*(\w+)\s*(?:,([^)]*))?\)/g)) {
      const flags = (r[2] ?? '')
        .split('|')
        .map((f) => f.trim())
        .filter((f) => f !== '' && f !== '0')
        .map((f) => {
          if (!/^KF_\w+$/.test(f)) throw new Error(`${p}: ${r[1]}: flag ${f} is not a KF_ name`);
          return f.slice(3).toLowerCase();
        });
      rows.push({ name: r[1], flags });
    }
    lists.set(m[1], rows);
  }
  // the btf_kfunc_id_set objects of this file
  const sets = new Map();
  for (const m of text.matchAll(/\bstruct\s+btf_kfunc_id_set\s+(\w+)\s*=\s*\{([\s\S]*?)\}\s*;/g)) {
    const set = /\.set\s*=\s*&\s*(\w+)/.exec(m[2])?.[1];
    const filter = /\.filter\s*=\s*(\w+)/.exec(m[2])?.[1];
    if (set) sets.set(m[1], { ids: set, filter });
  }
  for (const m of text.matchAll(/\bregister_btf_(?:kfunc_id_set\s*\(\s*BPF_PROG_TYPE_(\w+)\s*,|fmodret_id_set\s*\()\s*&\s*(\w+)\s*\)/g)) {
    // the fmodret hook: attach targets of fmod_ret programs, not a program type's kfuncs
    const type = m[1] === undefined ? 'fmodret' : m[1].toLowerCase();
    if (m[1] !== undefined && !progTypeNames.has(type)) throw new Error(`${p}: unknown program type BPF_PROG_TYPE_${m[1]}`);
    const set = sets.get(m[2]);
    if (!set) throw new Error(`${p}: register_btf_${m[1] === undefined ? 'fmodret' : 'kfunc'}_id_set(&${m[2]}): no such btf_kfunc_id_set in the file`);
    const rows = lists.get(set.ids);
    if (!rows) throw new Error(`${p}: ${m[2]}.set = &${set.ids}: no such BTF_KFUNCS_START list in the file`);
    registered.push(`${p}:${m[2]}`);
    for (const r of rows) {
      const k = kfuncs.get(r.name) ?? { flags: r.flags, regs: [] };
      if (k.flags.join('|') !== r.flags.join('|')) console.warn(`${r.name}: flags ${k.flags.join('|')} and ${r.flags.join('|')} (${p}); keeping the first`);
      k.regs.push({ set: set.ids, file: p, type, filter: set.filter });
      kfuncs.set(r.name, k);
    }
  }
}

const q = (s) => `'${s}'`;
const rows = [...kfuncs.keys()].sort().map((name) => {
  const k = kfuncs.get(name);
  const common = k.regs.some((r) => r.type === 'unspec');
  const types = [...new Set(k.regs.filter((r) => r.type !== 'unspec' && r.type !== 'fmodret').map((r) => r.type))];
  const fmodret = k.regs.some((r) => r.type === 'fmodret');
  const filters = [...new Set(k.regs.map((r) => r.filter).filter((f) => f !== undefined))];
  const sets = [...new Set(k.regs.map((r) => `${r.set} (${r.file})`))];
  const parts = [`flags: [${k.flags.map(q).join(', ')}]`];
  if (!common) parts.push(`types: [${types.map(q).join(', ')}]`);
  if (filters.length > 0) parts.push(`filter: ${filters.length === 1 ? q(filters[0]) : `[${filters.map(q).join(', ')}]`}`);
  if (fmodret) parts.push('fmodret: true');
  return `  /* ${sets.join(', ')} */ ${name}: { ${parts.join(', ')} },`;
});

const out = `// Generated by scripts/gen-kfuncs.mjs --linux DIR --config FILE from Linux ${version} sources
// and a kernel configuration (${configFile ? "the running kernel's /proc/config.gz" : 'every option on'}); do not edit by hand.
// Read: every BTF_KFUNCS_START/BTF_SET8_START id list and its BTF_ID_FLAGS rows, every
// \`struct btf_kfunc_id_set\` (its .set and .filter) and every register_btf_kfunc_id_set and
// register_btf_fmodret_id_set call of
// the .c files under ${roots.join('/, ')}/, with the #if blocks the configuration turns off left out.

/** A kfunc as the kernel's sources register it. */
export interface KfuncSetRow {
  /** include/linux/btf.h KF_ flags without the prefix, lower case (KF_RET_NULL: 'ret_null'). */
  readonly flags: readonly string[];
  /** The program types its sets are registered for; absent: the common hook (BPF_PROG_TYPE_UNSPEC), every type; empty: none (an fmod_ret target only). */
  readonly types?: readonly string[];
  /** Registered as an fmod_ret attach target (register_btf_fmodret_id_set). */
  readonly fmodret?: true;
  /** The name of its set's btf_kfunc_id_set.filter function, when the set has one. */
  readonly filter?: string | readonly string[];
}

/** Every kfunc registered by the sources the configuration builds, by name. */
export const KFUNC_SETS: Readonly<Record<string, KfuncSetRow>> = {
${rows.join('\n')}
};
`;
const dest = join(dirname(fileURLToPath(import.meta.url)), '../src/kfunc-sets.ts');
writeFileSync(dest, out);
console.log(`wrote ${relative(process.cwd(), dest)}: ${rows.length} kfuncs from ${registered.length} registrations in ${files.length} files`);
