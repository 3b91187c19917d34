// What the generators (gen-helpers.mjs, gen-kfuncs.mjs) share: the command line
// (--linux DIR [--config FILE]), reading the tree, and the kernel configuration's view of it.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

const arg = (name) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

/**
 * The tree and configuration given on the command line (exits with a usage line without
 * --linux): `linux` the tree, `read(path)` a file of it, `configFile` the --config given,
 * `config` the options set (undefined without --config), `enabled(opt)` whether a CONFIG_ option is y or m (every one without --config),
 * `condition(expr)` an #if condition over them, `stripComments(text)`, `preprocess(text)` the
 * lines the configuration keeps, `cFiles(dir)` the .c files under a directory of the tree,
 * `version` the tree's release as its Makefile spells it (e.g. 6.18.26, with any EXTRAVERSION).
 */
export function kernelTree(script) {
  const linux = arg('--linux');
  if (!linux) {
    console.error(`usage: ${script} --linux DIR (a Linux source tree) [--config FILE]`);
    process.exit(2);
  }
  const configFile = arg('--config');
  /** CONFIG_ options set to y or m; undefined: all of them. */
  const config = (() => {
    if (!configFile) return undefined;
    const raw = readFileSync(configFile);
    const text = (raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw).toString('utf8');
    return new Set([...text.matchAll(/^(CONFIG_\w+)=[ym]$/gm)].map((m) => m[1]));
  })();
  const enabled = (opt) => config === undefined || config.has(opt);
  /** An #if condition over CONFIG_ options (IS_ENABLED, defined, !, &&, ||); other macros count as set. */
  const condition = (expr) => {
    const js = expr
      .replace(/\b(?:IS_ENABLED|IS_BUILTIN|IS_REACHABLE|IS_MODULE|defined)\s*\(\s*(\w+)\s*\)/g, (_, o) => String(o.startsWith('CONFIG_') ? enabled(o) : true))
      .replace(/\bdefined\s+(\w+)/g, (_, o) => String(o.startsWith('CONFIG_') ? enabled(o) : true))
      .replace(/\b(CONFIG_\w+)\b/g, (_, o) => (enabled(o) ? '1' : '0'))
      .replace(/\b[A-Za-z_]\w*\b/g, (w) => (w === 'true' || w === 'false' ? w : '1'));
    return Boolean(new Function(`return (${js});`)());
  };
  const stripComments = (s) => s.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');
  const read = (p) => readFileSync(join(linux, p), 'utf8');
  /**
   * The lines of `text` the configuration keeps (#if/#ifdef/#ifndef/#elif/#else/#endif), with
   * continuation lines joined; directives, the lines left out and, with `dropDefines`, #define
   * lines become empty lines (so code evaluated afterwards sees no macro definitions).
   */
  const preprocess = (text, { dropDefines = false } = {}) => {
    const out = [];
    // per nesting level: whether this branch is taken, and whether one already was
    const stack = [];
    const live = () => stack.every((s) => s.on);
    for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
      const d = /^\s*#\s*(\w+)\s*(.*)$/.exec(line);
      if (d && /^(if|ifdef|ifndef|elif|else|endif)$/.test(d[1])) {
        const [, kw, rest] = d;
        const test = () => (kw === 'ifdef' ? condition(`defined(${rest.trim()})`) : kw === 'ifndef' ? !condition(`defined(${rest.trim()})`) : condition(rest));
        if (kw.startsWith('if')) {
          const on = test();
          stack.push({ on, done: on });
        } else if (kw === 'elif') {
          const top = stack[stack.length - 1];
          top.on = !top.done && test();
          top.done ||= top.on;
        } else if (kw === 'else') {
          const top = stack[stack.length - 1];
          top.on = !top.done;
          top.done = true;
        } else stack.pop();
        out.push('');
      } else out.push(live() && !(dropDefines && d?.[1] === 'define') ? line : '');
    }
    return out.join('\n');
  };
  /** The .c files under `dir` (a path in the tree), recursively, as paths in the tree. */
  const cFiles = (dir, out = []) => {
    for (const e of readdirSync(join(linux, dir))) {
      const p = join(dir, e);
      if (statSync(join(linux, p)).isDirectory()) cFiles(p, out);
      else if (p.endsWith('.c')) out.push(p);
    }
    return out;
  };
  const version = (() => {
    const mk = read('Makefile');
    const v = (k) => new RegExp(`^${k}[ \\t]*=[ \\t]*(\\S*)`, 'm').exec(mk)?.[1] ?? '';
    return `${v('VERSION')}.${v('PATCHLEVEL')}.${v('SUBLEVEL')}${v('EXTRAVERSION')}`;
  })();
  return { linux, read, configFile, config, enabled, condition, stripComments, preprocess, cFiles, version };
}
