import type { Command } from '../context.js';

export const demo: Command = {
  name: 'demo',
  summary: 'the main job: assemble, verify, interpret and JIT 12-argument BPF-to-BPF and kfunc calls',
  usage: 'bpf demo [--json]',
  example: 'bpf demo',
  options: { json: { type: 'boolean', help: 'print a JSON document instead of text' } },
  async run({ out }) {
    const { runDemo } = await import('./demo-run.js');
    return runDemo(out);
  },
};
