// The README's "Write your first handler", done by a test in a temporary directory:
// `cmake --install` into a temp prefix, the README's votes.c compiled with the README's own
// `cc ... $(pkg-config ...)` line (both extracted from README.md, so they cannot drift), the
// same file built through find_package(statechannel), and each .so loaded by the real server
// and driven with a raw WebSocket client.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer } from '../js/lib/server.mjs';
import { RawClient } from '../js/lib/phx.mjs';

const SOURCE = process.env.STATECHANNEL_SOURCE_DIR ?? new URL('../../', import.meta.url).pathname;
const BUILD = process.env.STATECHANNEL_BUILD_DIR ?? join(SOURCE, 'build');
const CMAKE = process.env.CMAKE_COMMAND ?? 'cmake';
const CC = process.env.CC ?? 'cc';
// Generous: cmake configure + build of a one-file project on a loaded 2-core machine.
const COMMAND_TIMEOUT_MS = 120_000;

// The README section the newcomer follows, and the pieces of it this test runs.
const readme = readFileSync(join(SOURCE, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Write your first handler'));
const votesC = section.match(/```c\n([\s\S]*?)```/)[1];
const ccLine = section.match(/^cc -shared .*$/m)[0];

let tmp;
let prefix;
const env = () => ({ ...process.env, PKG_CONFIG_PATH: join(prefix, 'lib/pkgconfig') });
const run = (cmd, args, cwd) => execFileSync(cmd, args, {
  cwd, env: env(), encoding: 'utf8', timeout: COMMAND_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'],
});

before(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sc-install-'));
  prefix = join(tmp, 'prefix');
  run(CMAKE, ['--install', BUILD, '--prefix', prefix]);
});
after(() => { if (tmp) rmSync(tmp, { recursive: true, force: true }); });

test('the install prefix holds the headers, libscpatch, statechannel.pc and the CMake package', () => {
  for (const f of ['include/statechannel/handler.h', 'include/statechannel/patch.h',
    'lib/libscpatch.a', 'lib/libscpatch.so', 'lib/pkgconfig/statechannel.pc',
    'lib/cmake/statechannel/statechannelConfig.cmake'])
    assert.ok(existsSync(join(prefix, f)), f);
  const cflags = run('pkg-config', ['--cflags', 'statechannel']);
  assert.match(cflags, /-I\S*include/);
  assert.match(cflags, /cjson/);
  const libs = run('pkg-config', ['--libs', 'statechannel']);
  assert.match(libs, /-lscpatch/);
  assert.match(libs, /-lcjson/);
});

// Loads the handlers in dir into a fresh server and checks the README's votes behaviour.
async function checkVotes(dir) {
  const server = await startServer({ handlers: dir });
  const c = await RawClient.connect(server.wsUrl);
  try {
    const t = await c.join('votes:lunch');
    assert.equal(t.reply.status, 'ok', JSON.stringify(t.reply));
    assert.deepEqual(t.state, { yes: 0, no: 0 });
    const { reply, patch } = await c.event(t, 'vote', { choice: 'yes' });
    assert.equal(reply.status, 'ok');
    assert.deepEqual(patch.patch, [{ op: 'replace', path: '/yes', value: 1 }]);
    const bad = await c.event(t, 'vote', { choice: 'maybe' });
    assert.equal(bad.reply.response.reason, 'invalid_payload');
    const refused = await c.join('votes:');
    assert.equal(refused.reply.response.reason, 'invalid topic');
  } finally {
    c.ws.terminate();
    await server.stop();
  }
}

test('the README handler builds with the README pkg-config line and serves votes', async () => {
  const dir = join(tmp, 'pkgconfig');
  mkdirSync(dir);
  writeFileSync(join(dir, 'votes.c'), votesC);
  mkdirSync(join(dir, 'my-handlers')); // the README's `mkdir -p my-handlers`
  run('sh', ['-c', ccLine], dir);
  // The same source is warning-free under the project's own flags.
  run('sh', ['-c', `${CC} -std=c11 -Wall -Wextra -Wshadow -Werror -fsyntax-only ` +
    '$(pkg-config --cflags statechannel) votes.c'], dir);
  // Only the .so goes into the handlers directory the server reads.
  const handlers = join(dir, 'my-handlers');
  assert.ok(existsSync(join(handlers, 'votes.so')));
  await checkVotes(handlers);
});

test('the README handler builds with find_package(statechannel) and serves votes', async () => {
  const dir = join(tmp, 'cmake');
  mkdirSync(dir);
  writeFileSync(join(dir, 'votes.c'), votesC);
  writeFileSync(join(dir, 'CMakeLists.txt'), [
    'cmake_minimum_required(VERSION 3.25)',
    'project(votes C)',
    'find_package(statechannel 0.1 REQUIRED)',
    'add_library(votes MODULE votes.c)',
    'set_target_properties(votes PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/handlers)',
    'target_link_libraries(votes PRIVATE statechannel::handler)',
    '',
  ].join('\n'));
  run(CMAKE, ['-S', dir, '-B', join(dir, 'build'), `-DCMAKE_PREFIX_PATH=${prefix}`,
    `-DCMAKE_C_COMPILER=${CC}`]);
  run(CMAKE, ['--build', join(dir, 'build')]);
  await checkVotes(join(dir, 'build/handlers'));
});
