'use strict';
// What the tests share: the perflog under test, scratch directories, reading a log back
// with perflog itself, waiting for a condition with a deadline, and finding (and
// stopping) the services a test caused to start.
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

const PERFLOG = process.env.PERFLOG_BIN || '/tmp/perflog-bin/perflog';
const PACKAGE = path.resolve(__dirname, '..');

function scratch(t) {
  // Short: socket paths must fit in sun_path (108 bytes).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plnode-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function perflog(...args) {
  return execFileSync(PERFLOG, args, { encoding: 'utf8', timeout: 30_000, maxBuffer: 1 << 28 });
}

/** Every event of the log, decoded from `perflog export --format ndjson`. */
function exported(log) {
  return perflog('export', '--format', 'ndjson', '--log', log).split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

async function waitFor(what, condition, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await condition()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether a service answers on `socket`. */
function answers(socket) {
  return new Promise((resolve) => {
    const c = net.createConnection(socket, () => { c.destroy(); resolve(true); });
    c.on('error', () => resolve(false));
  });
}

/** The pids of the `perflog serve` processes running on `socket`. */
function services(socket) {
  const pids = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv;
    try { argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'); } catch { continue; }
    let state = '';
    try { state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1][0]; } catch { continue; }
    if (state !== 'Z' && argv.includes('serve') && argv.includes(socket)) pids.push(Number(entry));
  }
  return pids;
}

/** Stops every service on `socket` (SIGTERM) and waits until none answers. */
async function stopServices(socket) {
  for (const pid of services(socket)) { try { process.kill(pid, 'SIGTERM'); } catch { /* gone already */ } }
  await waitFor(`the services on ${socket} to stop`, async () => services(socket).length === 0);
}

/** Starts `perflog serve` and resolves once it listens (its first line of output). */
function startService(log, socket, extra = []) {
  const child = spawn(PERFLOG, ['serve', '--log', log, '--socket', socket, '--json', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.stdout.once('data', () => resolve(child));
    child.once('exit', (code) => reject(new Error(`perflog serve exited ${code}`)));
  });
}

/** Runs a Node script as a child process; resolves with its status and output. */
function runNode(args, options = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

module.exports = { PERFLOG, PACKAGE, scratch, perflog, exported, waitFor, answers, services, stopServices, startService, runNode };
