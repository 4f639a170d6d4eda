'use strict';
// Invocations a second through the tracker, each a startAgent and an endAgent, in
// windows of W awaited together with D windows in flight (as an orchestrator running
// many agents at once), against a service the tracker starts itself; and the
// synchronous cost of the two calls to the caller.
//
//   node bench/bench.js [--events N] [--window W] [--depth D] [--log DIR] [--perflog PATH]
//
// The last line of output is JSON: client, events (N invocations), seconds,
// invocations_per_s, events_per_s (events in perflog's sense: each invocation is a
// mark and a measure), call_p50_ns, call_p99_ns (startAgent + endAgent, not the wait
// for the acknowledgement), and verified: nothing dropped or refused, the log counts
// exactly the N measures (its lifetime counter) and none is left in flight.
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
  const depth = Number(option('depth', 4));
  const owned = !option('log');
  const log = path.resolve(option('log', path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'plbench-')), 'log')));
  const perflog = findPerflog();
  const tracker = new PerformanceTracker({ log, perflog, idleExit: '1s' });
  await tracker.endAgent(tracker.startAgent('warm', 'up'));   // the service is started and connected

  const calls = new Float64Array(events);
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const windows = [];
  for (let done = 0; done < events;) {
    if (windows.length >= depth) await windows.shift();
    const batch = [];
    const n = Math.min(window, events - done);
    for (let i = 0; i < n; i++) {
      const [agent, cli] = STREAMS[(done + i) % STREAMS.length];
      const t0 = process.hrtime.bigint();
      const id = tracker.startAgent(agent, cli);
      batch.push(tracker.endAgent(id));
      calls[done + i] = Number(process.hrtime.bigint() - t0);
    }
    windows.push(Promise.all(batch));
    done += n;
  }
  await Promise.all(windows);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  await tracker.close();
  const stats = tracker.stats();

  // Read back by perflog itself: the measures ever stored (the warm-up's included), and
  // no mark left open.
  const info = JSON.parse(execFileSync(perflog, ['info', '--json', '--log', log], { encoding: 'utf8', timeout: 30_000 }));
  const verified = stats.dropped === 0 && stats.refused === 0 && info.total === events + 1 && info.inFlight === 0;

  // The service stops by itself after its --idle-exit of 1 s; wait for it before removing its log.
  const deadline = Date.now() + 20_000;
  while (serviceRunning(tracker.socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (owned) fs.rmSync(path.dirname(log), { recursive: true, force: true });

  calls.sort();
  const at = (q) => calls[Math.min(events - 1, Math.floor(q * events))];
  console.log(JSON.stringify({
    client: 'node', events, window, depth, seconds: Number(seconds.toFixed(3)),
    invocations_per_s: Math.round(events / seconds), events_per_s: Math.round((2 * events) / seconds), call_p50_ns: at(0.5), call_p99_ns: at(0.99),
    client_cpu_ns_per_event: Math.round(((used.user + used.system) * 1000) / events),
    verified,
  }));
})();
