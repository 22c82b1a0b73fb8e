// Builds the demos (demos/*.html) into dist/, which the server serves at "/".
// React files are *.jsx (esbuild, automatic runtime); Solid files are *.solid.jsx
// (vite-plugin-solid, babel-preset-solid). A small plugin writes dist/sw.js, the service worker
// that precaches the app shell (every built file) so a reload works offline.
import { defineConfig } from 'vite';
import solid from 'vite-plugin-solid';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const PAGES = ['index', 'todo', 'counter', 'chat', 'table'];

// Writes sw.js with the list of built files; its cache name is a hash of that list's contents,
// so each build replaces the previous shell in the browser's cache.
function serviceWorker() {
  return {
    name: 'statechannel-sw',
    apply: 'build',
    // writeBundle, not generateBundle: the HTML pages are emitted late in generateBundle by
    // Vite's own plugin, and the shell must include them.
    writeBundle(output, bundle) {
      const files = Object.keys(bundle).filter((f) => !f.endsWith('.map')).sort();
      const hash = createHash('sha256');
      for (const f of files) {
        const item = bundle[f];
        hash.update(f).update(item.type === 'chunk' ? item.code : item.source);
      }
      const template = readFileSync(here('./demos/sw.template.js'), 'utf8');
      const source = template
        .replace('__CACHE_NAME__', JSON.stringify(`statechannel-shell-${hash.digest('hex').slice(0, 12)}`))
        .replace('__PRECACHE__', JSON.stringify(['/', ...files.map((f) => `/${f}`)], null, 2));
      writeFileSync(`${output.dir}/sw.js`, source);
    },
  };
}

export default defineConfig({
  root: here('./demos'),
  base: '/',
  publicDir: false,
  plugins: [solid({ include: /\.solid\.jsx$/ }), serviceWorker()],
  esbuild: { jsx: 'automatic', jsxImportSource: 'react' },
  build: {
    outDir: here('./dist'),
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: true,
    chunkSizeWarningLimit: 1024,
    rollupOptions: {
      input: Object.fromEntries(PAGES.map((p) => [p, here(`./demos/${p}.html`)])),
    },
  },
  logLevel: 'warn',
});
