// `sluicectl completion bash|zsh`: a script that completes verbs (and a group's verbs),
// kind names after get/describe/delete, and each verb's flags. Written from the command
// table and the kinds' table, so it never lists a verb or kind that does not exist.
//   bash: source <(sluicectl completion bash)
//   zsh:  source <(sluicectl completion zsh)   (after compinit)

import { UsageError, type Command } from '../command.ts';
import { KIND_NAMES } from '../../api/kind-names.ts';

/** The verbs whose first argument is a KIND. */
const KIND_VERBS = ['get', 'describe', 'delete'];

export const completion: Command = {
  words: ['completion'],
  usage: 'sluicectl completion bash|zsh',
  summary: 'print a shell completion script for verbs, kinds and flags',
  examples: ['source <(sluicectl completion bash)', "echo 'source <(sluicectl completion zsh)' >> ~/.zshrc"],
  options: {},
  required: [],
  positionals: 1,
  async run({ positionals, ctx }) {
    const shell = positionals[0];
    if (shell !== 'bash' && shell !== 'zsh') throw new UsageError(`unknown shell '${shell}': use bash or zsh`);
    // The table is imported here: it imports this file, and the cycle would leave it half-built.
    const { COMMANDS } = await import('./index.ts');
    const words = wordsOf(COMMANDS);
    ctx.stdout(shell === 'bash' ? bashScript(words) : zshScript(words));
    return 0;
  },
};

type Words = { readonly valued: string[]; readonly top: string[]; readonly groups: [string, string[]][]; readonly flags: [string, string[]][]; readonly kinds: string[] };

function wordsOf(commands: readonly Command[]): Words {
  const top = [...new Set(commands.map((c) => c.words[0]))];
  const groups = top.filter((w) => commands.some((c) => c.words.length > 1 && c.words[0] === w)).map((g): [string, string[]] => [g, commands.filter((c) => c.words[0] === g).map((c) => c.words[1])]);
  const flags = commands.map((c): [string, string[]] => [c.words.join(' '), ['--help', ...Object.entries(c.options).flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])])]]);
  const kinds = ['all', ...KIND_NAMES.flatMap((k) => [k.plural, k.singular, ...k.shortNames])];
  // Flags that take a value: the word after one is that value, not a verb (`-n shop get`).
  const valued = [...new Set(commands.flatMap((c) => Object.entries(c.options).filter(([, o]) => o.type === 'string').flatMap(([name, o]) => [`--${name}`, ...(o.short === undefined ? [] : [`-${o.short}`])])))];
  return { valued, top, groups, flags, kinds };
}

function bashScript(w: Words): string {
  return `# bash completion for sluicectl: source <(sluicectl completion bash)
_sluicectl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}"
  local -a words=()
  local i
  for ((i = 1; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      ${w.valued.join('|')}) ((i++)) ;;
      -*) ;;
      *) words+=("\${COMP_WORDS[i]}") ;;
    esac
  done
  local verb="\${words[0]}" candidates=""
  if [[ "$cur" == -* ]]; then
    case "\${words[0]} \${words[1]}" in
${w.flags.filter(([v]) => v.includes(' ')).map(([v, f]) => `      "${v}") candidates="${f.join(' ')}" ;;`).join('\n')}
      *)
        case "$verb" in
${w.flags.filter(([v]) => !v.includes(' ')).map(([v, f]) => `          ${v}) candidates="${f.join(' ')}" ;;`).join('\n')}
        esac ;;
    esac
  elif [[ \${#words[@]} -eq 0 ]]; then
    candidates="${w.top.join(' ')}"
  elif [[ \${#words[@]} -eq 1 ]]; then
    case "$verb" in
${w.groups.map(([g, vs]) => `      ${g}) candidates="${vs.join(' ')}" ;;`).join('\n')}
      ${KIND_VERBS.join('|')}) candidates="${w.kinds.join(' ')}" ;;
      completion) candidates="bash zsh" ;;
    esac
  fi
  COMPREPLY=($(compgen -W "$candidates" -- "$cur"))
}
complete -F _sluicectl sluicectl
`;
}

function zshScript(w: Words): string {
  const arr = (xs: readonly string[]) => `(${xs.map((x) => `'${x}'`).join(' ')})`;
  return `#compdef sluicectl
# zsh completion for sluicectl: source <(sluicectl completion zsh)
_sluicectl() {
  local -a args
  local i
  for (( i = 2; i < CURRENT; i++ )); do
    case "\${words[i]}" in
      ${w.valued.join('|')}) (( i++ )) ;;
      -*) ;;
      *) args+=("\${words[i]}") ;;
    esac
  done
  local cur=\${words[CURRENT]}
  if [[ $cur == -* ]]; then
    case "\${args[1]} \${args[2]}" in
${w.flags.filter(([v]) => v.includes(' ')).map(([v, f]) => `      "${v}") compadd -- ${f.join(' ')}; return ;;`).join('\n')}
    esac
    case "\${args[1]}" in
${w.flags.filter(([v]) => !v.includes(' ')).map(([v, f]) => `      ${v}) compadd -- ${f.join(' ')} ;;`).join('\n')}
    esac
    return
  fi
  if (( \${#args} == 0 )); then
    local -a verbs=${arr(w.top)}
    compadd -- $verbs
  elif (( \${#args} == 1 )); then
    case "\${args[1]}" in
${w.groups.map(([g, vs]) => `      ${g}) compadd -- ${vs.join(' ')} ;;`).join('\n')}
      ${KIND_VERBS.join('|')}) local -a kinds=${arr(w.kinds)}; compadd -- $kinds ;;
      completion) compadd -- bash zsh ;;
    esac
  fi
}
if [[ "$funcstack[1]" == "_sluicectl" ]]; then
  _sluicectl "$@"
else
  compdef _sluicectl sluicectl
fi
`;
}
