/**
 * Exception callbacks (tools/lib/bpf/libbpf.c bpf_prog_assign_exc_cb): an entry program names
 * the function that runs when it throws (`bpf_throw`) with a BTF decl tag
 * `exception_callback:NAME` on its own FUNC. The callback is called by no instruction, so the
 * linker appends it to the program by hand after the subprograms the program reaches; the
 * kernel finds it again through the tag and func_info (bpf_find_exception_callback_insn_off).
 */
import type { BtfTypeTable } from './btfview.js';
import { ElfError } from './errors.js';
import type { ElfObject } from './object.js';

const PREFIX = 'exception_callback:';

/**
 * The exception callback each entry program names, by program name. A program tagged twice
 * gets none (libbpf then appends nothing and leaves the refusal to the verifier). Throws
 * {@link ElfError} where libbpf refuses the object: a tag on something other than a global
 * function, an empty name, a callback that is not a global, visible function of `.text`, or
 * no function of that name.
 */
export function exceptionCallbacks(obj: ElfObject, btf: BtfTypeTable): ReadonlyMap<string, string> {
  const tags: { readonly prog: string; readonly cb: string }[] = [];
  for (let id = 1; id < btf.count; id++) {
    const t = btf.type(id);
    if (t?.kind !== 'decl_tag' || t.componentIdx !== -1 || !t.name.startsWith(PREFIX)) continue;
    const target = btf.type(t.type);
    if (target?.kind !== 'func' || target.linkage !== 'global')
      throw new ElfError('BAD_BTF', `${PREFIX}<value> decl tag (BTF id ${id}) not applied to the main program`, { section: '.BTF' });
    tags.push({ prog: target.name, cb: t.name.slice(PREFIX.length) });
  }
  const out = new Map<string, string>();
  for (const prog of obj.programs) {
    let found: string | undefined;
    for (const tag of tags) {
      if (tag.prog !== prog.name) continue;
      // a second tag: libbpf appends nothing, the kernel refuses ("multiple exception callback tags")
      if (found !== undefined) {
        found = undefined;
        break;
      }
      if (tag.cb === '') throw new ElfError('BAD_BTF', `prog '${prog.name}': ${PREFIX}<value> decl tag contains empty value`, { section: prog.section });
      const fns = obj.subprograms.filter((f) => f.name === tag.cb);
      if (fns.length === 0) throw new ElfError('BAD_PROGRAM', `prog '${prog.name}': cannot find exception callback '${tag.cb}'`, { section: prog.section });
      const fn = fns[0]!;
      const vis = obj.symbols[fn.symbolIndex]?.visibility;
      // the verifier wants a global function; a hidden one is made static in the BTF the kernel gets
      if (fn.linkage !== 'global' || vis === 'hidden' || vis === 'internal')
        throw new ElfError('BAD_PROGRAM', `prog '${prog.name}': exception callback ${tag.cb} must be a global non-hidden function`, { section: prog.section });
      found = tag.cb;
    }
    if (found !== undefined) out.set(prog.name, found);
  }
  return out;
}
