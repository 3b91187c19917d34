/**
 * BPF lists and rbtrees of allocated objects (kernel/bpf/verifier.c
 * __process_kf_arg_ptr_to_graph_root/_node, check_reg_allocation_locked,
 * ref_convert_owning_non_owning, ref_set_non_owning, invalidate_non_owning_refs,
 * mark_reg_graph_node): a `bpf_list_head` or `bpf_rb_root` in a map value or an allocated
 * object is used only under the `bpf_spin_lock` of the same allocation; pushing a node turns
 * its owning reference into a non-owning one (`non_own_ref`, MEM_RCU when the struct is
 * refcounted) that lives until the lock is released; popping and removing give owning
 * references at the node's offset in its struct.
 */
import type { Env } from './env.js';
import { allocated, mapRecord, objRecord, FIELD_NAME, type BtfField, type BtfRecord, type FieldType } from './kptr.js';
import { btfPtr, btfPtrType } from './nullable.js';
import { pointer, setSpilled, UNKNOWN, type Reg, type State } from './state.js';
import { tnumIsConst } from './tnum.js';

type GraphOp = 'push' | 'pop' | 'first' | 'remove' | 'add';

/** The graph kfuncs (is_bpf_list_api_kfunc, is_bpf_rbtree_api_kfunc) and what each does. */
const GRAPH_KFUNCS: Readonly<Record<string, { readonly root: 'list_head' | 'rb_root'; readonly op: GraphOp }>> = {
  bpf_list_push_front_impl: { root: 'list_head', op: 'push' },
  bpf_list_push_back_impl: { root: 'list_head', op: 'push' },
  bpf_list_pop_front: { root: 'list_head', op: 'pop' },
  bpf_list_pop_back: { root: 'list_head', op: 'pop' },
  bpf_list_front: { root: 'list_head', op: 'first' },
  bpf_list_back: { root: 'list_head', op: 'first' },
  bpf_rbtree_add_impl: { root: 'rb_root', op: 'add' },
  bpf_rbtree_remove: { root: 'rb_root', op: 'remove' },
  bpf_rbtree_first: { root: 'rb_root', op: 'first' },
  bpf_rbtree_root: { root: 'rb_root', op: 'first' },
  bpf_rbtree_left: { root: 'rb_root', op: 'first' },
  bpf_rbtree_right: { root: 'rb_root', op: 'first' },
};

export const graphKfunc = (name: string): { readonly root: 'list_head' | 'rb_root'; readonly op: GraphOp } | undefined => GRAPH_KFUNCS[name];

/** The kfunc argument kinds the graph API's struct pointers stand for (get_kfunc_ptr_arg_type). */
const ARG_STRUCT: Readonly<Record<string, FieldType>> = { bpf_list_head: 'list_head', bpf_list_node: 'list_node', bpf_rb_root: 'rb_root', bpf_rb_node: 'rb_node' };
export const graphArgKind = (struct: string): FieldType | undefined => ARG_STRUCT[struct];

/** What the graph arguments of one call found (the kernel's arg_list_head / arg_rbtree_root). */
export interface GraphMeta {
  root?: BtfField;
  /** The node argument's owning reference, converted to non-owning by push/add. */
  nodeRef?: number;
}

const LOCK_KINDS = new Set(['lock', 'res_lock', 'res_lock_irq']);

/** An allocated object held by an owning reference: exactly PTR_TO_BTF_ID | MEM_ALLOC. */
const ownedAlloc = (r: Reg): boolean => r.memSize !== undefined && btfPtr(r.type)?.flag === '' && !btfPtr(r.type)!.orNull && !r.nonOwn;

/** check_reg_allocation_locked: the lock held must be this allocation's (its map or BTF, and id). */
function lockedBy(st: State, r: Reg): 'none' | 'other' | 'ok' {
  const held = st.refs.filter((x) => x.kind !== undefined && LOCK_KINDS.has(x.kind));
  if (!held.length) return 'none';
  const ptr = r.type === 'map_value' ? `map:${r.map!.name}` : 'btf';
  return held.some((x) => x.id === (r.id ?? 0) && x.ptr === ptr) ? 'ok' : 'other';
}

/**
 * in_rbtree_lock_required_cb: the walk is inside bpf_rbtree_add's less(), which runs under the
 * tree's lock: it may neither take nor release a lock nor remove a node.
 */
export function inRbtreeCb(env: Env, st: State): boolean {
  if (st.frames.length < 2) return false;
  const callee = st.frames[st.frames.length - 1]!;
  return callee.callbackRet !== undefined && env.kfuncNameAt?.(callee.callsite) === 'bpf_rbtree_add_impl';
}

/** KF_ARG_PTR_TO_LIST_HEAD / _RB_ROOT: the head in a map value or owned object, under its lock. */
export function graphRootArg(env: Env, st: State, pc: number, k: number, regno: number, r: Reg, kind: FieldType, meta: GraphMeta): void {
  if (r.type !== 'map_value' && !ownedAlloc(r)) env.reject(pc, `arg#${k} expected pointer to map value or allocated object`);
  if (r.type !== 'map_value' && !r.refObjId) env.reject(pc, 'allocated object must be referenced');
  const name = FIELD_NAME[kind];
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} doesn't have constant offset. ${name} has to be at the constant offset`);
  const rec: BtfRecord | undefined = r.type === 'map_value' ? mapRecord(env, r.map!) : objRecord(env, btfPtr(r.type)!.struct);
  const off = r.off + Number(r.var.value);
  const field = rec?.fields.find((f) => f.off === off && f.type === kind);
  if (!field) env.reject(pc, `${name} not found at offset=${off}`);
  const locked = lockedBy(st, r);
  if (locked !== 'ok') {
    const must = `bpf_spin_lock at off=${rec!.spinLockOff ?? -1} must be held for ${name}`;
    if (locked === 'other') env.reject(pc, 'held lock and object are not in the same allocation', must);
    env.reject(pc, must);
  }
  meta.root = field;
}

/** KF_ARG_PTR_TO_LIST_NODE / _RB_NODE: a node of the struct the head holds, at its offset. */
export function graphNodeArg(env: Env, st: State, pc: number, k: number, regno: number, r: Reg, kind: FieldType, fnName: string, meta: GraphMeta): void {
  const op = GRAPH_KFUNCS[fnName]?.op;
  // only the pushes and bpf_rbtree_add take an owned object; bpf_rbtree_remove, _left and _right a node in a tree
  if (op !== 'push' && op !== 'add') {
    if (!r.nonOwn && !r.refObjId) env.reject(pc, `${fnName} can only take non-owning or refcounted bpf_rb_node pointer`);
    if (inRbtreeCb(env, st)) env.reject(pc, `${fnName} not allowed in rbtree cb`);
  } else {
    if (!ownedAlloc(r)) env.reject(pc, `arg#${k} expected pointer to allocated object`);
    if (!r.refObjId) env.reject(pc, 'allocated object must be referenced');
  }
  const name = FIELD_NAME[kind];
  if (!tnumIsConst(r.var)) env.reject(pc, `R${regno} doesn't have constant offset. ${name} has to be at the constant offset`);
  const struct = btfPtr(r.type)?.struct ?? '';
  const off = r.off + Number(r.var.value);
  if (!objRecord(env, struct)?.fields.some((f) => f.off === off && f.type === kind)) env.reject(pc, `${name} not found at offset=${off}`);
  const g = meta.root?.graph;
  const head = meta.root ? FIELD_NAME[meta.root.type] : '';
  if (g && g.struct !== struct)
    env.reject(pc, `operation on ${head} expects arg#1 ${name} at offset=${g.nodeOff} in struct ${g.struct}, but arg is at offset=${off} in struct ${struct}`);
  if (g && off !== g.nodeOff) env.reject(pc, `arg#1 offset=${off}, but expected ${name} at offset=${g.nodeOff} in struct ${g.struct}`);
  if (op === 'push' || op === 'add') meta.nodeRef = r.refObjId;
}

/** ref_set_non_owning: NON_OWN_REF, and MEM_RCU when the struct has a bpf_refcount. */
function nonOwning(env: Env, r: Reg): Reg {
  const b = btfPtr(r.type)!;
  const rcu = objRecord(env, b.struct)?.fields.some((f) => f.type === 'refcount') === true;
  const { refObjId: _ref, ...rest } = r;
  return { ...rest, type: btfPtrType(b.struct, rcu ? 'rcu_' : '', b.orNull), nonOwn: true };
}

/** ref_convert_owning_non_owning, then release_reference: every copy of the pushed node becomes non-owning. */
export function convertToNonOwning(env: Env, st: State, refObjId: number): void {
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.refObjId === refObjId) fr.regs[k] = nonOwning(env, r);
    });
    fr.spilled.forEach((r, k) => {
      if (r?.refObjId === refObjId) setSpilled(fr, k, nonOwning(env, r));
    });
  }
  st.refs = st.refs.filter((x) => x.id !== refObjId);
}

/** mark_reg_graph_node: R0 of pop/remove (an owning reference) or first (non-owning), at the node's offset. */
export function graphReturn(env: Env, st: State, pc: number, op: GraphOp, meta: GraphMeta): Reg {
  const g = meta.root?.graph;
  if (!g) return UNKNOWN;
  const nullId = env.nextId();
  const r = pointer(btfPtrType(g.struct, '', true), { off: g.nodeOff, id: nullId, ...allocated(env, g.struct) });
  if (op === 'first') return nonOwning(env, r);
  const id = env.nextId();
  st.refs = [...st.refs, { id, insn: pc }];
  return { ...r, id, refObjId: id };
}

/** invalidate_non_owning_refs: at a lock's release every non-owning reference becomes unusable. */
export function invalidateNonOwning(st: State): void {
  for (const fr of st.frames) {
    fr.regs.forEach((r, k) => {
      if (r.nonOwn) fr.regs[k] = UNKNOWN;
    });
    fr.spilled.forEach((r, k) => {
      if (r?.nonOwn) setSpilled(fr, k, UNKNOWN);
    });
  }
}

/** set_rbtree_add_callback_state: less()'s arguments, non-owning nodes of the tree's struct. */
export function graphCallbackNode(env: Env, meta: GraphMeta): Reg {
  const g = meta.root?.graph;
  if (!g) return UNKNOWN;
  return nonOwning(env, pointer(btfPtrType(g.struct), { off: g.nodeOff, ...allocated(env, g.struct) }));
}
