import type { Command } from '../context.js';
import { asm } from './asm.js';
import { btf } from './btf.js';
import { completion } from './completion.js';
import { demo } from './demo.js';
import { disasm } from './disasm.js';
import { elf } from './elf.js';
import { jit } from './jit.js';
import { kernel } from './kernel.js';
import { liveness } from './liveness.js';
import { run } from './run.js';
import { verify } from './verify.js';
import { veristat } from './veristat.js';

export const commands: readonly Command[] = [asm, disasm, btf, elf, liveness, verify, run, jit, kernel, veristat, demo, completion];
