import { kfuncs } from '@bpf/btf';
import { skipWithout } from '@bpf/testkit';
import { describe, expect, it } from 'vitest';
import { KFUNC_SETS } from './kfunc-sets.js';
import { haveVmlinux, kernelBtf } from './kernel.test.helper.js';

/**
 * Functions the running kernel tags bpf_kfunc that the generated table leaves out, and why:
 * fs/bpf_fs_kfuncs.c is not in the source tree the table was made from , and net/bpf/test_run.c's fmodret set (register_btf_fmodret_id_set) makes
 * attach targets, not kfuncs a program may call.
 */
const NOT_GENERATED: Readonly<Record<string, 'fs' | 'fmodret'>> = {
  bpf_get_file_xattr: 'fs',
  bpf_get_dentry_xattr: 'fs',
  bpf_set_dentry_xattr: 'fs',
  bpf_remove_dentry_xattr: 'fs',
  bpf_get_task_exe_file: 'fs',
  bpf_put_file: 'fs',
  bpf_path_d_path: 'fs',
  bpf_fentry_test1: 'fmodret',
  bpf_modify_return_test: 'fmodret',
  bpf_modify_return_test2: 'fmodret',
};

describe('kfunc-sets.ts (scripts/gen-kfuncs.mjs) against the running kernel', () => {
  it.skipIf(skipWithout('kernel') || !haveVmlinux())("covers every kfunc the kernel's BTF tags bpf_kfunc, the listed exceptions aside", () => {
    const tagged = [...kfuncs(kernelBtf()).keys()].sort();
    expect(tagged.length).toBeGreaterThan(100);
    const missing = tagged.filter((n) => KFUNC_SETS[n] === undefined);
    expect(missing).toEqual(Object.keys(NOT_GENERATED).filter((n) => tagged.includes(n)).sort());
    // and the table names no kfunc this kernel lacks (the configuration was read right)
    expect(Object.keys(KFUNC_SETS).filter((n) => !tagged.includes(n))).toEqual([]);
  });
});
