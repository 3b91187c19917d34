import type { Command } from '../context.js';
import { EXIT } from '../errors.js';
import { commands } from './index.js';

export const completion: Command = {
  name: 'completion',
  summary: 'print a bash completion script (source it: eval "$(bpf completion)")',
  usage: 'bpf completion',
  example: 'eval "$(bpf completion)"',
  options: {},
  run({ out }) {
    const cases = commands
      .map((c) => `    ${c.name}) opts="${Object.keys(c.options).map((o) => `--${o}`).join(' ')} --help ${(c.subcommands ?? []).join(' ')}" ;;`)
      .join('\n');
    out.line(`# bash completion for bpf
_bpf() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmd="\${COMP_WORDS[1]}" opts
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=( $(compgen -W "${commands.map((c) => c.name).join(' ')} --help --version" -- "$cur") ); return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$opts" -- "$cur") ); else COMPREPLY=( $(compgen -f -- "$cur") ); fi
}
complete -F _bpf bpf`);
    return EXIT.OK;
  },
};
