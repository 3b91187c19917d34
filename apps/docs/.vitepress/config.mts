import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defineConfig } from 'vitepress';

// The playground runs the real packages in the browser: resolve @bpf/* to their sources.
const root = resolve(import.meta.dirname, '../../..');
const alias = readdirSync(join(root, 'packages'))
  .map((d) => join(root, 'packages', d))
  .filter((d) => existsSync(join(d, 'src/index.ts')))
  .map((d) => ({ find: (JSON.parse(readFileSync(join(d, 'package.json'), 'utf8')) as { name: string }).name, replacement: join(d, 'src/index.ts') }));

const packages = ['isa', 'btf', 'elf', 'liveness', 'verifier', 'vm', 'jit-x86', 'jit-arm64', 'kernel'];

export default defineConfig({
  title: '@bpf',
  description: 'A TypeScript eBPF toolchain: assemble, verify, run and JIT BPF programs, stack arguments included.',
  cleanUrls: true,
  ignoreDeadLinks: [/^\.\.\/\.\.\//, /localhost/],
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
      { text: 'Try it', items: [{ text: 'Playground', link: '/playground' }] },
      { text: 'API reference', link: '/api/' },
    ],
    search: { provider: 'local' },
  },
});
