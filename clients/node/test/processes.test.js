'use strict';
// The tracker as whole programs use it: the old tracker's orchestrator run unchanged,
// two programs racing to start the service, a service killed mid-run, and the package
// loaded by name through require and import.
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { PERFLOG, PACKAGE, scratch, perflog, exported, waitFor, services, stopServices, startService, runNode } = require('./support');

// The orchestrator that called the old tracker, kept with the reference material beside
// the repository (not copied into it).
const USAGE = process.env.OLD_TRACKER_USAGE
  || path.resolve(PACKAGE, '..', '..', '..', 'shared', 'reference', 'old-tracker', 'usage.js');

test('the old tracker\'s orchestrator runs unchanged with TRACKER_MODULE pointing here', { skip: !fs.existsSync(USAGE) && `no ${USAGE}` }, async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, '.planning', 'metrics', 'agent-performance.json');
  const log = path.join(dir, '.planning', 'metrics', 'perflog');
  t.after(() => stopServices(`${log}.sock`));
  const r = await runNode([USAGE], { cwd: dir, env: { ...process.env, TRACKER_MODULE: PACKAGE, METRICS_FILE: file, PERFLOG_BIN: PERFLOG } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = JSON.parse(r.stdout.trim().split('\n').pop());
  assert.equal(out.runs, 120);
  assert.equal(out.failed, 8);
  assert.equal(out.timed, 120);
  const stats = JSON.parse(perflog('stats', '--json', '--log', log));
  assert.equal(stats.length, 6);
  const measures = exported(log).filter((e) => e.kind === 'measure');
  assert.equal(measures.length, 120);
  assert.equal(measures.filter((e) => e.outcome === 'failed').length, 8);
  for (const s of stats) {
    const key = `${s.agent}/${s.cli}`;
    assert.equal(out.averages[key], s.meanMs, key);
    // perflog's mean is of the successful runs: the one intended difference from the old tracker.
    const ok = measures.filter((e) => `${e.agent}/${e.cli}` === key && e.outcome === 'ok').map((e) => e.durationMs);
    // perflog prints durations and means rounded to the microsecond: the two roundings
    // together are at most 0.001 ms apart.
    const mean = ok.reduce((a, b) => a + b, 0) / ok.length;
    assert.ok(Math.abs(out.averages[key] - mean) <= 0.001, `${key}: ${out.averages[key]} vs ${mean}`);
  }
  assert.equal(fs.existsSync(file), false, 'the old file is not written');
});

test('a program moved from the old tracker by changing its require works the same way', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, '.planning', 'metrics', 'perflog');
  t.after(() => stopServices(`${log}.sock`));
  fs.mkdirSync(path.join(dir, 'src', 'deep'), { recursive: true });
  fs.mkdirSync(path.join(dir, '.planning'));
  // Written as a user of the old tracker would, run from a subdirectory of the project.
  const script = `
    const { PerformanceTracker } = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const tracker = new PerformanceTracker();
      const id = tracker.startAgent('planner', 'claude');
      const perf = await tracker.endAgent(id);
      const failed = await tracker.endAgent(tracker.startAgent('planner', 'claude'), { failed: true });
      const avg = await tracker.getAverageTime('planner', 'claude');
      tracker.dispose();
      console.log(JSON.stringify({ perf, failed, avg }));
    })();`;
  const r = await runNode(['-e', script], { cwd: path.join(dir, 'src', 'deep'), env: { ...process.env, PERFLOG_BIN: PERFLOG } });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(out.perf), ['agent', 'cli', 'duration', 'timestamp']);
  assert.equal(out.failed.agent, 'planner');
  const measures = exported(log).filter((e) => e.kind === 'measure');
  assert.deepEqual(measures.map((e) => e.outcome), ['ok', 'failed']);
  assert.equal(out.avg, measures[0].durationMs);
  assert.equal(fs.existsSync(path.join(dir, 'src', 'deep', '.planning')), false, 'the log of the project, found from below');
});

test('two programs that both find no service end up on the one that wins the start', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'log');
  t.after(() => stopServices(`${log}.sock`));
  const script = `
    const { PerformanceTracker } = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const tracker = new PerformanceTracker({ log: ${JSON.stringify(log)}, idleExit: '30s' });
      const all = [];
      for (let i = 0; i < 200; i++) all.push(tracker.endAgent(tracker.startAgent('racer', 'cli-' + process.argv[1])));
      await Promise.all(all);
      await tracker.close();
      console.log(JSON.stringify(tracker.stats()));
    })();`;
  const env = { ...process.env, PERFLOG_BIN: PERFLOG };
  const [a, b] = await Promise.all([runNode(['-e', script, 'a'], { env }), runNode(['-e', script, 'b'], { env })]);
  for (const r of [a, b]) {
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    const stats = JSON.parse(r.stdout);
    assert.equal(stats.acknowledged, 400);
    assert.equal(stats.dropped, 0);
  }
  // The start that lost exits on its own (75) once it sees the winner; both clients may
  // be done before it has.
  await waitFor('the losing start to exit', async () => services(`${log}.sock`).length <= 1);
  assert.equal(services(`${log}.sock`).length, 1, 'one service serves both; the other start exited');
  const measures = exported(log).filter((e) => e.kind === 'measure');
  assert.equal(measures.filter((e) => e.cli === 'cli-a').length, 100);
  assert.equal(measures.filter((e) => e.cli === 'cli-b').length, 100);
});

test('a service killed mid-run: the tracker starts another, resends, and every invocation is stored exactly once', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'log'), socket = `${log}.sock`;
  t.after(() => stopServices(socket));
  perflog('init', '--retain', '100000', '--log', log);
  const first = await startService(log, socket);
  const script = `
    const { PerformanceTracker } = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const tracker = new PerformanceTracker({ log: ${JSON.stringify(log)}, idleExit: '30s' });
      const ids = [];
      for (let round = 0; round < 60; round++) {
        const batch = [];
        for (let i = 0; i < 10; i++) {
          const id = tracker.startAgent('planner', 'claude');
          ids.push(id);
          batch.push(tracker.endAgent(id));
        }
        await Promise.all(batch);
        if (round === 20) console.log('halfway');
      }
      await tracker.close();
      console.log(JSON.stringify({ ids, stats: tracker.stats() }));
    })();`;
  const { spawn } = require('node:child_process');
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, PERFLOG_BIN: PERFLOG }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  await new Promise((resolve) => child.stdout.on('data', (d) => {
    stdout += d;
    if (stdout.includes('halfway') && !first.killed) { first.kill('SIGKILL'); resolve(); }
  }));
  assert.equal(await exited, 0, stderr);
  const { ids, stats } = JSON.parse(stdout.trim().split('\n').pop());
  assert.equal(ids.length, 600);
  assert.equal(stats.dropped, 0);
  assert.ok(stats.reconnects >= 1, JSON.stringify(stats));
  const events = exported(log);
  assert.deepEqual(events.filter((e) => e.kind === 'mark'), [], 'no mark left open');
  const counts = new Map();
  for (const e of events) if (e.kind === 'measure') counts.set(e.invocation, (counts.get(e.invocation) || 0) + 1);
  assert.equal(counts.size, 600);
  const wrong = ids.filter((id) => counts.get(id) !== 1);
  assert.deepEqual(wrong, [], 'every invocation measured exactly once');
});

test('with no perflog on PATH and no PERFLOG_BIN, a program still runs to its end, warned once', async (t) => {
  const dir = scratch(t);
  const script = `
    const { PerformanceTracker } = require(${JSON.stringify(PACKAGE)});
    (async () => {
      const tracker = new PerformanceTracker();
      const records = [];
      for (let i = 0; i < 10; i++) records.push(await tracker.endAgent(tracker.startAgent('planner', 'claude')));
      const avg = await tracker.getAverageTime('planner', 'claude');
      await tracker.close();
      console.log(JSON.stringify({ records: records.filter((r) => r && r.duration >= 0).length, avg, stats: tracker.stats() }));
    })();`;
  const env = { ...process.env, PATH: '/nonexistent-bin', PERFLOG_LOG: path.join(dir, 'log') };
  delete env.PERFLOG_BIN;
  const r = await runNode(['-e', script], { cwd: dir, env });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { records: 10, avg: null, stats: { sent: 0, acknowledged: 0, refused: 0, dropped: 20, pending: 0, reconnects: 0 } });
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], /^\[perflog\] 'perflog' was not found/);
});

test('the package loads by name through require and import, with its types declared', async (t) => {
  const dir = scratch(t);
  fs.mkdirSync(path.join(dir, 'node_modules'));
  fs.symlinkSync(PACKAGE, path.join(dir, 'node_modules', 'perflog'));
  const script = `
    import { PerformanceTracker } from 'perflog';
    import { createRequire } from 'node:module';
    const cjs = createRequire(import.meta.url)('perflog');
    console.log(JSON.stringify({ same: cjs.PerformanceTracker === PerformanceTracker, type: typeof PerformanceTracker }));`;
  fs.writeFileSync(path.join(dir, 'probe.mjs'), script);
  const r = await runNode([path.join(dir, 'probe.mjs')], { cwd: dir });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { same: true, type: 'function' });
  const pkg = JSON.parse(fs.readFileSync(path.join(PACKAGE, 'package.json'), 'utf8'));
  const types = fs.readFileSync(path.join(PACKAGE, pkg.exports['.'].types), 'utf8');
  for (const name of ['class PerformanceTracker', 'startAgent(', 'endAgent(', 'getAverageTime(', 'measure<', 'close(', 'stats(']) {
    assert.ok(types.includes(name), `index.d.ts declares ${name}`);
  }
  assert.deepEqual(pkg.dependencies || {}, {});
});
