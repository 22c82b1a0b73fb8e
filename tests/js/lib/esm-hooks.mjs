// Node 20 module hooks that let the real phx-live-state 0.12 load unbundled (DESIGN-NOTES,
// "Testing with the real clients in Node 20"). That package and its dependency json-joy ship
// ES modules in .js files without "type": "module", and json-joy's ESM build imports paths
// without extensions ('./util') or directories ('json-joy/esm/json-patch'). So:
//   resolve: when a relative or deep specifier is not found, retry it with '.js', then with
//            '/index.js' (at most those two extra tries per import);
//   load:    files under node_modules/phx-live-state/ or node_modules/json-joy/esm/ are ESM.
// Everything else resolves and loads exactly as Node does. Register with lib/live-state.mjs.

const ESM_DIRS = ['/node_modules/phx-live-state/', '/node_modules/json-joy/esm/'];
const RETRY_SUFFIXES = ['.js', '/index.js'];

function isEsmFile(url) {
  return url.startsWith('file:') && url.endsWith('.js') && ESM_DIRS.some((d) => url.includes(d));
}

const RETRYABLE = new Set(['ERR_MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT']);

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    if (!RETRYABLE.has(err.code) || specifier.endsWith('.js')) throw err;
    for (const suffix of RETRY_SUFFIXES) {
      try {
        return await nextResolve(specifier + suffix, context);
      } catch (retryErr) {
        if (!RETRYABLE.has(retryErr.code)) throw retryErr;
      }
    }
    throw err;
  }
}

export async function load(url, context, nextLoad) {
  if (isEsmFile(url)) return nextLoad(url, { ...context, format: 'module' });
  return nextLoad(url, context);
}
