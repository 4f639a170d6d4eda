'use strict';
// Invocations a second through the tracker, each a startAgent and an endAgent, awaited in
// windows (as an orchestrator running many agents at once), against a service the
// tracker starts itself; and the synchronous cost of the two calls to the caller.
//
//   node bench/bench.js [--events N] [--window W] [--log DIR] [--perflog PATH]
//
// The last line of output is JSON: client, events, seconds, events_per_s, call_p50_ns,
// call_p99_ns (startAgent + endAgent, not the wait for the acknowledgement), and
// verified: the log holds each of the N invocations' measures exactly once. A new log
// is created with rings large enough to keep them all (`perflog init --retain`).
const { execFileSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { PerformanceTracker } = require('..');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const STREAMS = [['planner', 'claude'], ['planner', 'codex'], ['coder', 'claude'], ['coder', 'codex'], ['reviewer', 'claude'], ['reviewer', 'gemini']];

/** Whether a `perflog serve` on `socket` is still running (read from /proc: connecting would keep it busy). */
function serviceRunning(socket) {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const state = fs.readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1][0];
      if (state !== 'Z' && argv.includes('serve') && argv.includes(socket)) return true;
    } catch { /* gone meanwhile */ }
  }
  return false;
}

/** --perflog, else PERFLOG_BIN, else perflog on PATH, else where the tests look for it. */
function findPerflog() {
  const given = option('perflog', process.env.PERFLOG_BIN);
  if (given) return given;
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, 'perflog'))) return path.join(dir, 'perflog');
  }
  if (fs.existsSync('/tmp/perflog-bin/perflog')) return '/tmp/perflog-bin/perflog';
  console.error('bench: perflog not found: pass --perflog PATH or set PERFLOG_BIN');
  process.exit(66);
}

(async () => {
  const events = Number(option('events', 200_000));
  const window = Number(option('window', 1_000));
  const owned = !option('log');
  const log = path.resolve(option('log', path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plbench-')), 'log')));
  const perflog = findPerflog();
  if (!fs.existsSync(log)) {
    const retain = Math.min(1_000_000, Math.ceil(events / STREAMS.length) + 10);
    execFileSync(perflog, ['init', '--retain', String(retain), '--log', log], { stdio: 'ignore', timeout: 30_000 });
  }
  const tracker = new PerformanceTracker({ log, perflog, idleExit: '1s' });
  await tracker.endAgent(tracker.startAgent('warm', 'up'));   // the service is started and connected

  const ids = new Array(events);
  const calls = new Float64Array(events);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  for (let done = 0; done < events;) {
    const batch = [];
    const n = Math.min(window, events - done);
    for (let i = 0; i < n; i++) {
      const [agent, cli] = STREAMS[(done + i) % STREAMS.length];
      const t0 = process.hrtime.bigint();
      const id = tracker.startAgent(agent, cli);
      batch.push(tracker.endAgent(id));
      calls[done + i] = Number(process.hrtime.bigint() - t0);
      ids[done + i] = id;
    }
    await Promise.all(batch);
    done += n;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await tracker.close();
  const stats = tracker.stats();

  // Every invocation's measure in the log exactly once, read back by perflog itself.
  const seen = new Map();
  const ndjson = execFileSync(perflog, ['export', '--format', 'ndjson', '--log', log], { encoding: 'utf8', maxBuffer: 1 << 30, timeout: 120_000 });
  for (const line of ndjson.split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.kind === 'measure') seen.set(e.invocation, (seen.get(e.invocation) || 0) + 1);
  }
  const verified = stats.dropped === 0 && stats.refused === 0 && ids.every((id) => seen.get(id) === 1);

  // The service stops by itself after its --idle-exit of 1 s; wait for it before removing its log.
  const deadline = Date.now() + 20_000;
  while (serviceRunning(tracker.socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (owned) fs.rmSync(path.dirname(log), { recursive: true, force: true });

  calls.sort();
  const at = (q) => calls[Math.min(events - 1, Math.floor(q * events))];
  console.log(JSON.stringify({
    client: 'node', events, window, seconds: Number(seconds.toFixed(3)),
    events_per_s: Math.round(events / seconds), call_p50_ns: at(0.5), call_p99_ns: at(0.99),
    client_cpu_ns_per_event: Math.round(((used.user + used.system) * 1000) / events),
    verified,
  }));
})();
