#!/usr/bin/env node
// Generates the pages that must not drift from the code:
//  - api/<package>/: TypeDoc (markdown) of each package's public entry point;
//  - cli.md: the CLI reference, from `bpf <command> --help` of the built CLI, each command followed by
//    its --json shape rendered from apps/cli/schemas/*.schema.json, and the error and exit-code contract.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const docs = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(docs, '../..');
const pkgs = readdirSync(join(root, 'packages')).filter((p) => {
  const pj = join(root, 'packages', p, 'package.json');
  return existsSync(join(root, 'packages', p, 'src/index.ts')) && existsSync(pj) && !JSON.parse(readFileSync(pj, 'utf8')).private;
});

rmSync(join(docs, 'api'), { recursive: true, force: true });
mkdirSync(join(docs, 'api'), { recursive: true });
const bin = (name) => join(docs, 'node_modules/.bin', name);
for (const p of pkgs) {
  execFileSync(
    bin('typedoc'),
    [
      '--plugin', 'typedoc-plugin-markdown',
      '--entryPoints', join(root, 'packages', p, 'src/index.ts'),
      '--tsconfig', join(root, 'packages', p, 'tsconfig.json'),
      '--out', join(docs, 'api', p),
      '--readme', 'none',
      '--hidePageHeader', '--hideBreadcrumbs',
      '--excludePrivate', '--excludeInternal',
      '--skipErrorChecking',
      '--logLevel', 'Error',
      '--name', `@bpf/${p}`,
    ],
    { stdio: 'inherit', cwd: root },
  );
}
writeFileSync(
  join(docs, 'api/index.md'),
  `# API reference\n\nGenerated from the sources with TypeDoc on every build.\n\n${pkgs.map((p) => `- [@bpf/${p}](./${p}/README.md)`).join('\n')}\n`,
);

const cli = join(root, 'apps/cli/dist/bin.js');
const schemaDir = join(root, 'apps/cli/schemas');
let cliPage = '# CLI reference\n\nGenerated from `bpf <command> --help` and the JSON Schemas of `--json` output on every build.\n\n';
if (existsSync(cli)) {
  const run = (args) => execFileSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const main = run(['--help']);
  cliPage += '```text\n' + main + '```\n\n' + jsonIntro();
  const names = [...main.matchAll(/^ {2}(\S+) {2,}/gm)].map((m) => m[1]);
  for (const n of names) {
    cliPage += `\n## bpf ${n}\n\n\`\`\`text\n${run([n, '--help'])}\`\`\`\n`;
    for (const file of schemaFiles(n)) cliPage += jsonSection(file);
  }
  cliPage += await errorsSection();
} else {
  cliPage += 'Build the CLI first (`pnpm exec tsc -b`).\n';
}
writeFileSync(join(docs, 'cli.md'), cliPage);
console.log(`api: ${pkgs.length} packages documented; cli.md written`);

// ---- --json shapes, from apps/cli/schemas/<command>[-<subcommand>].schema.json ----

function jsonIntro() {
  return (
    '## JSON output\n\n' +
    'Every command that takes `--json` prints exactly one JSON document on stdout instead of text. Its shape is ' +
    'documented and stable: a JSON Schema (draft 2020-12) per command ships in the package as ' +
    '`@bpf/cli/schemas/<command>.schema.json` (`kernel-load`, `btf-dump`, ... for subcommands), and each ' +
    "command's section below renders it as a table. Objects are closed (no undocumented fields); fields marked " +
    '*optional* are absent, not null, when they do not apply. 64-bit values are hex strings (`"0x4e"`); byte ' +
    'buffers are lower-case hex without separators. Errors print nothing on stdout (see [Errors and exit codes](#errors-and-exit-codes)).\n'
  );
}

function schemaFiles(command) {
  if (!existsSync(schemaDir)) return [];
  return readdirSync(schemaDir)
    .filter((f) => f === `${command}.schema.json` || (f.startsWith(`${command}-`) && f.endsWith('.schema.json')))
    .sort();
}

function jsonSection(file) {
  const schema = JSON.parse(readFileSync(join(schemaDir, file), 'utf8'));
  const rows = [];
  fields(schema, schema, '', rows);
  const cell = (t) => t.replace(/\|/g, '\\|');
  return (
    `\n### ${schema.title}\n\n${schema.description}\n\n` +
    `Schema: \`@bpf/cli/schemas/${file}\`\n\n` +
    '| field | type | description |\n|---|---|---|\n' +
    rows.map((r) => `| \`${r.path}\` | ${cell(r.type)}${r.optional ? ' *(optional)*' : ''} | ${cell(r.description)} |`).join('\n') +
    '\n'
  );
}

/** The node a `$ref` points at (local `#/$defs/...` only), with the referring node's description. */
function deref(schema, node) {
  if (node.$ref === undefined) return node;
  const target = node.$ref.replace(/^#\/\$defs\//, '');
  const def = schema.$defs?.[target];
  if (!def) throw new Error(`${schema.$id}: unresolved $ref ${node.$ref}`);
  const { $ref: _, ...rest } = node;
  return deref(schema, { ...def, ...rest });
}

/** A compact type: `integer`, `string \| null`, `object[]`, `"llvm" \| "kernel"`, `[integer, integer][]`. */
function typeOf(schema, raw) {
  const node = deref(schema, raw);
  if (node.anyOf || node.oneOf) return [...new Set((node.anyOf ?? node.oneOf).map((n) => typeOf(schema, n)))].join(' | ');
  if (node.const !== undefined) return JSON.stringify(node.const);
  if (node.enum) {
    if (node.enum.length <= 6) return node.enum.map((v) => JSON.stringify(v)).join(' | ');
    return [...new Set(node.enum.map((v) => (v === null ? 'null' : typeof v)))].join(' | ');
  }
  const types = [node.type ?? 'any'].flat();
  return types
    .map((t) => {
      if (t !== 'array') return t;
      if (node.prefixItems) return `[${node.prefixItems.map((n) => typeOf(schema, n)).join(', ')}]`;
      return `${node.items ? typeOf(schema, node.items) : 'any'}[]`;
    })
    .join(' | ');
}

/** Object-valued part of a node (through `$ref`, nullable `anyOf`, and arrays: path gains `[]`). */
function children(schema, raw, path) {
  const node = deref(schema, raw);
  for (const alt of node.anyOf ?? node.oneOf ?? []) {
    const c = children(schema, alt, path);
    if (c) return c;
  }
  if (node.properties) return { node, path };
  if (node.items && typeof node.items === 'object') return children(schema, node.items, `${path}[]`);
  return undefined;
}

/** One row per property, nested objects and array items flattened with dotted paths. */
function fields(schema, node, path, rows) {
  const required = new Set(node.required ?? []);
  for (const [name, raw] of Object.entries(node.properties ?? {})) {
    const full = path ? `${path}.${name}` : name;
    const prop = deref(schema, raw);
    rows.push({ path: full, type: typeOf(schema, prop), optional: !required.has(name), description: prop.description ?? '' });
    const inner = children(schema, prop, full);
    if (inner) fields(schema, inner.node, inner.path, rows);
  }
}

// ---- errors: the line format and the exit codes of apps/cli/src/errors.ts ----

async function errorsSection() {
  const { EXIT } = await import(pathToFileURL(join(root, 'apps/cli/dist/errors.js')).href);
  const meaning = {
    OK: 'success (for `verify` and `kernel load`: accepted; for `kernel compare`: the verdicts agree)',
    REJECTED: 'the program was rejected (`verify`, `kernel load`, `run --verify`, `kernel run`) or a comparison disagreed (`kernel compare`)',
    USAGE: 'bad command line: unknown command or flag, missing FILE, a value outside its choices',
    INPUT: 'the input could not be read or parsed: assembly, bytes, hex, ELF, BTF, or a program a JIT cannot translate',
    KERNEL: 'the kernel refused an operation (an errno from `bpf()` other than a verifier rejection)',
    RUNTIME: 'running the program failed: memory violation, instruction budget exceeded, native crash',
    UNAVAILABLE: 'a required tool or capability is missing: no kernel access, no qemu-aarch64, an unimplemented format',
    INTERNAL: 'a bug: the message says so; `--debug` adds the stack trace',
  };
  const missing = Object.keys(EXIT).filter((k) => !(k in meaning));
  if (missing.length) throw new Error(`api.mjs: describe the exit code(s) ${missing.join(', ')} of apps/cli/src/errors.ts`);
  return (
    '\n## Errors and exit codes\n\n' +
    'An error prints one line on stderr and nothing on stdout, with or without `--json`:\n\n' +
    '```text\nbpf: FILE: place: message\n```\n\n' +
    'FILE is the file argument (`-` for standard input); the place is where in it, when known: `line:column` ' +
    'in assembly (`bpf: prog.s: 2:4: unknown instruction`), `insn N` or `insn N (byte B)` in a program, ' +
    '`byte B` in BTF, `section S`, `insn N` or `byte B` in an ELF object. Usage errors name the command instead (`bpf: run: --budget must be a positive integer`). ' +
    'No stack trace unless `--debug`. A rejection by a verifier is not an error: `verify`, `kernel load` and ' +
    '`kernel compare` print their document (or text) and exit 1.\n\n' +
    '| exit code | name | meaning |\n|---|---|---|\n' +
    Object.entries(EXIT)
      .map(([k, v]) => `| ${v} | \`${k}\` | ${meaning[k]} |`)
      .join('\n') +
    '\n'
  );
}
