#!/usr/bin/env node
// The repository stands on its own: no link, citation or path leads outside it (issue 26).
//  1. every relative link in every Markdown file (READMEs, docs pages, CONTRIBUTING,
//     fixtures notes) and every VitePress `<!--@include: …-->` resolves to a file inside the
//     repository, and a `#fragment` to a heading of the Markdown file it names; a
//     site-absolute link in a docs page (`/guide/vm`) names a page of apps/docs;
//  2. every citation of a section of the stack-arguments reference (its path, then the
//     section sign and a number, in code comments, examples and READMEs) names a section the
//     page has;
//  3. no text file names the directory outside the repository that the project's notes once
//     lived in (the pattern is SHARED below);
//  4. every path CODEOWNERS assigns exists;
//  5. the README of every public package — the README npm shows — has no relative link
//     (it would break on npm): links to other packages and to the docs point at the docs site,
//     whose address is the root package.json's `homepage`, and must name a page that exists.
// Each problem is printed as `file:line: what`, so a failure says where to look.
// Usage: node scripts/link-check.mjs [--root DIR]   (exit 1 on any problem)
// The test command runs it through apps/docs/test/links.test.ts; scripts/pack-check.mjs
// applies check 5 to the README inside each packed tarball.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The docs site's address, the root package.json's `homepage`: the one setting every package README uses. */
export function docsSiteOf(dir = root) {
  const json = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  return String(json.homepage ?? '').replace(/\/+$/, '');
}
/** Where the stack-arguments reference lives in the repository. */
export const REFERENCE = 'apps/docs/stack-args.md';
/** `shared` then a slash, written so that this file does not match itself. */
const SHARED = new RegExp(['(?<![\\w-])', 'shared', '\\/'].join(''));

const TEXT = new Set(['.md', '.ts', '.mts', '.cts', '.s', '.c', '.h', '.mjs', '.cjs', '.js', '.sh', '.json', '.yaml', '.yml', '.vue', '.css', '.html', '.toml', '']);
const SKIP_DIRS = new Set(['node_modules', '.git', 'dist', '.turbo', 'coverage', 'test-results', 'cache', 'build']);

/** The repository's files (tracked, plus new files git does not ignore), relative to root. */
export function repoFiles(dir = root) {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: dir, encoding: 'utf8', maxBuffer: 64 << 20, stdio: ['ignore', 'pipe', 'ignore'] });
    return out.split('\0').filter((f) => f && existsSync(join(dir, f)));
  } catch {
    const acc = [];
    const walk = (d) => {
      for (const e of readdirSync(join(dir, d), { withFileTypes: true })) {
        const p = d ? `${d}/${e.name}` : e.name;
        if (e.isDirectory()) {
          if (!SKIP_DIRS.has(e.name)) walk(p);
        } else acc.push(p);
      }
    };
    walk('');
    return acc;
  }
}

/** Markdown with fenced code blocks, inline code and HTML comments blanked (line numbers kept). */
function prose(text) {
  const lines = text.split('\n');
  let fence = null;
  return lines
    .map((line) => {
      const m = /^\s*(`{3,}|~{3,})/.exec(line);
      if (fence) {
        if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = null;
        return '';
      }
      if (m) {
        fence = m[1];
        return '';
      }
      return line.replace(/(`+)[\s\S]*?\1/g, (s) => ' '.repeat(s.length));
    })
    .join('\n')
    .replace(/<!--(?!\s*@include)[\s\S]*?-->/g, (s) => s.replace(/[^\n]/g, ' '));
}

/** Every link target of a Markdown text, with its 1-based line. */
export function markdownLinks(text) {
  const body = prose(text);
  const out = [];
  const lineOf = (index) => body.slice(0, index).split('\n').length;
  const patterns = [
    /!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g, // [text](target "title")
    /^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)/gm, // [ref]: target
    /<(?:a|img|link|script)\s[^>]*?(?:href|src)\s*=\s*["']([^"']+)["']/gi, // <a href="…">
    /<!--\s*@include:\s*([^\s>]+?)\s*-->/g, // VitePress include
  ];
  for (const re of patterns) for (const m of body.matchAll(re)) out.push({ target: m[1], line: lineOf(m.index + m[0].indexOf(m[1])), include: re.source.includes('@include') });
  return out.sort((a, b) => a.line - b.line);
}

/** Heading anchors of a Markdown text: GitHub's slugs, VitePress's slugs and explicit `{#id}`s. */
export function anchors(text) {
  const ids = new Set();
  const seen = new Map();
  for (const line of prose(text).split('\n')) {
    const h = /^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!h) continue;
    let title = h[1];
    const explicit = /\s*\{#([\w-]+)\}\s*$/.exec(title);
    if (explicit) {
      ids.add(explicit[1]);
      title = title.slice(0, explicit.index);
    }
    const plain = title.replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/<[^>]+>/g, '').replace(/`/g, '');
    // GitHub: lower case, drop punctuation except - and _, spaces to -, duplicates get -1, -2…
    const gh = plain.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(gh) ?? 0;
    seen.set(gh, n + 1);
    ids.add(n ? `${gh}-${n}` : gh);
    // VitePress: runs of special characters to one -, trimmed, a leading digit gets _
    const vp = plain
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/[\s~`!@#$%^&*()\-_+=[\]{}|\\;:"'“”‘’<>,.?/]+/g, '-')
      .replace(/-{2,}/g, '-')
      .replace(/^-+|-+$/g, '')
      .replace(/^(\d)/, '_$1')
      .toLowerCase();
    ids.add(vp);
  }
  return ids;
}

/** Section numbers (`4`, `4.2`) of a Markdown text's numbered headings (`## 4. …`, `### 4.2 …`). */
export function sections(text) {
  const out = new Set();
  for (const m of prose(text).matchAll(/^#{1,6}\s+(\d+(?:\.\d+)*)\.?\s/gm)) out.add(m[1]);
  return out;
}

/** The Markdown source of a docs-site page path (`/guide/vm`, `stack-args.html`), or null. */
export function docsPage(path, dir = root) {
  const p = path.replace(/^\/+/, '').replace(/\/+$/, '').replace(/\.(html|md)$/, '');
  const docs = join(dir, 'apps/docs');
  for (const c of [p === '' ? 'index.md' : `${p}.md`, `${p}/index.md`]) if (existsSync(join(docs, c)) && statSync(join(docs, c)).isFile()) return join(docs, c);
  return null;
}
/** Pages the docs build generates (apps/docs/scripts/api.mjs): the CLI reference and the API reference. */
const GENERATED_PAGES = [/^cli\/?$/, /^api(\/.*)?$/];

const isExternal = (t) => /^[a-z][a-z\d+.-]*:/i.test(t) || t.startsWith('//');

/**
 * Problems of a link to the docs site (`${docsSite}/stack-args#…`): the page must exist in
 * apps/docs (or be generated), and a fragment must be one of its headings.
 */
function docsSiteProblem(url, dir) {
  const docsSite = docsSiteOf(dir);
  const rest = url.slice(docsSite.length);
  if (rest !== '' && !rest.startsWith('/') && !rest.startsWith('#')) return null; // another host that merely shares a prefix
  const [path, frag] = rest.split('#');
  const clean = decodeURIComponent(path ?? '').replace(/^\/+/, '');
  if (GENERATED_PAGES.some((re) => re.test(clean.replace(/\.html$/, '')))) return null;
  const page = docsPage(clean, dir);
  if (!page) return `${url}: no page apps/docs/${clean || 'index'}.md behind this docs-site address`;
  if (frag && !anchors(readFileSync(page, 'utf8')).has(frag)) return `${url}: apps/docs/${relative(join(dir, 'apps/docs'), page)} has no heading #${frag}`;
  return null;
}

/** Problems of one relative (or site-absolute, in a docs page) link found in `file`. */
function relativeProblem(file, target, dir) {
  const [rawPath, frag] = target.split('#');
  const path = decodeURIComponent(rawPath ?? '');
  if (path === '') {
    if (frag && file.endsWith('.md') && !anchors(readFileSync(join(dir, file), 'utf8')).has(frag)) return `#${frag}: no such heading in this file`;
    return null;
  }
  const inDocs = file.startsWith('apps/docs/');
  let abs;
  if (path.startsWith('/')) {
    if (!inDocs) return `${target}: an absolute path; link relative to this file`;
    if (GENERATED_PAGES.some((re) => re.test(path.slice(1).replace(/\.html$/, '')))) return null;
    abs = docsPage(path, dir);
    if (!abs) return `${target}: no page behind this docs-site path in apps/docs`;
  } else {
    abs = resolve(dir, dirname(file), path);
    if (abs !== dir && !abs.startsWith(dir + sep)) return `${target}: leads outside the repository`;
    if (!existsSync(abs) && inDocs && docsPage(relative(join(dir, 'apps/docs'), abs), dir)) abs = docsPage(relative(join(dir, 'apps/docs'), abs), dir);
    if (!existsSync(abs)) {
      const rel = relative(join(dir, 'apps/docs'), abs);
      if (inDocs && GENERATED_PAGES.some((re) => re.test(rel.replace(/\.(md|html)$/, '').split(sep).join('/')))) return null;
      return `${target}: ${relative(dir, abs)} does not exist`;
    }
  }
  if (frag && abs.endsWith('.md') && statSync(abs).isFile() && !anchors(readFileSync(abs, 'utf8')).has(frag)) return `${target}: ${relative(dir, abs)} has no heading #${frag}`;
  return null;
}

/**
 * Problems of a README as npm shows it (the README inside the packed tarball): no relative
 * link (npm resolves none of them), and links to the docs site name pages that exist.
 * `name` is what the messages call the file.
 */
export function packedReadmeProblems(text, name, dir = root) {
  const problems = [];
  const docsSite = docsSiteOf(dir);
  if (!docsSite) return [`${name}: the root package.json has no "homepage" (the docs site's address)`];
  for (const { target, line } of markdownLinks(text)) {
    if (target.startsWith('#')) continue;
    if (!isExternal(target)) {
      problems.push(`${name}:${line}: relative link ${target} breaks on npm; point at ${docsSite}/… (the root package.json's "homepage")`);
      continue;
    }
    if (target.startsWith(docsSite)) {
      const p = docsSiteProblem(target, dir);
      if (p) problems.push(`${name}:${line}: ${p}`);
    }
  }
  return problems;
}

/** Citations of the reference by path and section number (the page's name, then a section sign). */
const CITATION = /stack-args(?:\.md)?\)?`?\s*((?:§\s*\d+(?:\.\d+)*(?:\s*(?:-|–|,|and)\s*)?)+)/g;

/** Every problem in the repository at `dir`, as `file:line: what`. */
export function checkRepository(dir = root) {
  const problems = [];
  const docsSite = docsSiteOf(dir);
  const files = repoFiles(dir);
  const reference = join(dir, REFERENCE);
  const known = existsSync(reference) ? sections(readFileSync(reference, 'utf8')) : new Set();
  const publicReadmes = new Set();
  for (const f of files) {
    if (!/^(packages|apps)\/[^/]+\/package\.json$/.test(f)) continue;
    const json = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    if (!json.private) publicReadmes.add(`${dirname(f)}/README.md`);
  }
  for (const file of files) {
    const ext = extname(file);
    if (!TEXT.has(ext) || file.endsWith('pnpm-lock.yaml')) continue;
    const abs = join(dir, file);
    if (statSync(abs).size > 4 << 20) continue;
    const text = readFileSync(abs, 'utf8');
    if (text.includes('\0')) continue;
    const lines = text.split('\n');
    lines.forEach((l, i) => {
      if (SHARED.test(l)) problems.push(`${file}:${i + 1}: refers to a directory outside the repository (${l.trim().slice(0, 100)}); cite ${REFERENCE} or another file of the repository`);
      for (const m of l.matchAll(CITATION)) {
        for (const s of m[1].matchAll(/§\s*(\d+(?:\.\d+)*)/g)) {
          if (!known.has(s[1])) problems.push(`${file}:${i + 1}: cites stack-args §${s[1]}, but ${REFERENCE} has no section ${s[1]}`);
        }
      }
    });
    if (file.startsWith('examples/')) {
      // an example's comments may name files (`apps/docs/stack-args.md`): relative to the example or the root
      lines.forEach((l, i) => {
        const comment = /(?:#|\/\/|;)(.*)$/.exec(l);
        for (const m of comment?.[1].matchAll(/(?<![\w/.-])((?:\.\.?\/)*(?:[\w.-]+\/)+[\w.-]+\.[a-z]+)\b/g) ?? []) {
          if (!existsSync(resolve(dir, dirname(file), m[1])) && !existsSync(resolve(dir, m[1]))) problems.push(`${file}:${i + 1}: ${m[1]} does not exist in the repository`);
        }
      });
    }
    if (ext === '.md') {
      for (const { target, line } of markdownLinks(text)) {
        if (isExternal(target)) {
          if (docsSite && target.startsWith(docsSite)) {
            const p = docsSiteProblem(target, dir);
            if (p) problems.push(`${file}:${line}: ${p}`);
          }
          continue;
        }
        const p = relativeProblem(file, target, dir);
        if (p) problems.push(`${file}:${line}: ${p}`);
      }
      if (publicReadmes.has(file)) problems.push(...packedReadmeProblems(text, file, dir));
    }
  }
  // CODEOWNERS: every path it assigns exists (an owner of a moved directory would get nothing)
  if (existsSync(join(dir, 'CODEOWNERS'))) {
    readFileSync(join(dir, 'CODEOWNERS'), 'utf8').split('\n').forEach((l, i) => {
      const path = l.replace(/#.*/, '').trim().split(/\s+/)[0];
      if (!path || /[*?[]/.test(path)) return;
      if (!existsSync(join(dir, path.replace(/^\//, '')))) problems.push(`CODEOWNERS:${i + 1}: ${path} does not exist`);
    });
  }
  return [...new Set(problems)];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--root');
  const problems = checkRepository(at > 0 ? resolve(process.argv[at + 1]) : root);
  for (const p of problems) console.error(p);
  console.log(`link-check: ${problems.length} problem${problems.length === 1 ? '' : 's'}`);
  process.exit(problems.length ? 1 : 0);
}
