// What the generators (gen-helpers.mjs, gen-kfuncs.mjs) share: the command line
// (--linux DIR [--config FILE]), reading the tree, and the kernel configuration's view of it.
import { readFileSync } from 'node:fs';
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
 * `condition(expr)` an #if condition over them, `stripComments(text)`.
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
  return { linux, read, configFile, config, enabled, condition, stripComments };
}
