import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitepress';

// The playground runs the real packages in the browser: resolve @bpf/* to their sources.
const root = resolve(import.meta.dirname, '../../..');
const alias = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => existsSync(join(d, 'src/index.ts')))
  .map((d) => ({ find: (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name: string }).name, replacement: join(d, 'src/index.ts') }));

// Package READMEs (included as guide pages) link to the docs site by its absolute address, the
// root package.json's `homepage`, so that the links also work on npm. On the site itself those
// links become site-relative: they stay inside the build being viewed and VitePress checks them.
const homepage = ((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { homepage?: string }).homepage ?? '').replace(/\/+$/, '');
type Token = { type: string; attrGet(name: string): string | null; attrSet(name: string, value: string): void; children: Token[] | null };
function siteLinks(md: { core: { ruler: { push(name: string, fn: (state: { tokens: Token[] }) => void): void } } }): void {
  md.core.ruler.push('site-links', (state) => {
    const visit = (tokens: Token[]): void => {
      for (const t of tokens) {
        const href = t.type === 'link_open' ? t.attrGet('href') : null;
        if (homepage && href !== null && (href === homepage || href.startsWith(`${homepage}/`) || href.startsWith(`${homepage}#`))) t.attrSet('href', href.slice(homepage.length).replace(/^(?!\/)/, '/'));
        if (t.children) visit(t.children);
      }
    };
    visit(state.tokens);
  });
}

const packages = ['isa', 'btf', 'elf', 'liveness', 'verifier', 'vm', 'jit-x86', 'jit-arm64', 'jit-wasm', 'kernel'];

export default defineConfig({
  title: '@bpf',
  description: 'A TypeScript eBPF toolchain: assemble, verify, run and JIT BPF programs, stack arguments included.',
  cleanUrls: true,
  ignoreDeadLinks: [/^\.\.\/\.\.\//, /localhost/],
  markdown: { config: (md) => siteLinks(md as unknown as Parameters<typeof siteLinks>[0]) },
  vite: {
    resolve: { alias: alias.map((a) => ({ find: new RegExp(`^${a.find.replace('/', '\\/')}$`), replacement: a.replacement })) },
    build: { chunkSizeWarningLimit: 4000 },
  },
  themeConfig: {
    nav: [
      { text: 'Guide', link: '/guide/' },
      { text: 'Stack arguments', link: '/stack-args' },
      { text: 'CLI', link: '/cli' },
      { text: 'API', link: '/api/' },
      { text: 'Playground', link: '/playground' },
    ],
    sidebar: [
      { text: 'Introduction', items: [{ text: 'Getting started', link: '/guide/' }, { text: 'Stack arguments', link: '/stack-args' }, { text: 'CLI reference', link: '/cli' }] },
      { text: 'Packages', items: packages.map((p) => ({ text: `@bpf/${p}`, link: `/guide/${p}` })) },
      { text: 'Try it', items: [{ text: 'Playground', link: '/playground' }, { text: 'Verifier explorer', link: '/explorer' }] },
      { text: 'API reference', link: '/api/' },
    ],
    search: { provider: 'local' },
  },
});
