// Examples offered by the playground; the files live in the repository's examples/ folder,
// shared with the CLI demo and the tests.
import call12 from '../../../examples/call12.s?raw';
import kfunc12 from '../../../examples/kfunc12.s?raw';
import hello from '../../../examples/hello.s?raw';
import r11AfterCall from '../../../examples/reject-r11-after-call.s?raw';
import uninit from '../../../examples/reject-uninit.s?raw';

export const EXAMPLES: readonly { readonly name: string; readonly text: string }[] = [
  { name: '12-argument BPF-to-BPF call', text: call12 },
  { name: '12-argument kfunc call', text: kfunc12 },
  { name: 'return 42', text: hello },
  { name: 'rejected: r11 load after a call', text: r11AfterCall },
  { name: 'rejected: uninitialised register', text: uninit },
];

/**
 * The playground's "Open in explorer" hands its program to the explorer page through this
 * sessionStorage key (JSON `{ text, type }`); the explorer opens it once and removes it.
 */
export const EXPLORER_HANDOFF = 'bpf-explorer-program';
