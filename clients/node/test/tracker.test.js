'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { PerformanceTracker } = require('..');
const { PERFLOG, scratch, perflog, exported, waitFor, answers, services, stopServices } = require('./support');

function tracker(dir, options = {}) {
  return new PerformanceTracker({ log: path.join(dir, 'log'), perflog: PERFLOG, idleExit: '1s', ...options });
}

test('with no service running, the tracker starts one, records every event, and the service stops when idle', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'log');
  const tr = tracker(dir);
  assert.equal(await answers(tr.socket), false);
  const records = [];
  for (let i = 0; i < 50; i++) {
    const id = tr.startAgent(['planner', 'coder'][i % 2], 'claude');
    assert.match(id, /^[0-9a-f]{16}$/);
    records.push(tr.endAgent(id));
  }
  const settled = await Promise.all(records);
  for (const r of settled) {
    assert.equal(typeof r.duration, 'number');
    assert.ok(r.duration >= 0 && Number.isFinite(r.timestamp));
  }
  assert.deepEqual(tr.stats(), { sent: 100, acknowledged: 100, refused: 0, dropped: 0, pending: 0, reconnects: 0 });
  await tr.close();

  const measures = exported(log).filter((e) => e.kind === 'measure');
  assert.equal(measures.length, 50);
  assert.equal(new Set(measures.map((e) => e.invocation)).size, 50);
  assert.equal(measures.filter((e) => e.agent === 'planner').length, 25);
  assert.ok(measures.every((e) => e.pid === process.pid && e.outcome === 'ok'));
  // Nothing connected: the service started with --idle-exit 1s goes away by itself.
  // (Watched from /proc: a probe's connection would keep it busy.)
  assert.equal(services(tr.socket).length, 1);
  await waitFor('the idle service to exit', async () => services(tr.socket).length === 0);
});

test('endAgent carries failed, exitCode and meta; durations are the ones the caller was given', async (t) => {
  const dir = scratch(t);
  const tr = tracker(dir);
  t.after(() => stopServices(tr.socket));
  const id = tr.startAgent('coder', 'codex', { model: 'o3' });
  const r = await tr.endAgent(id, { failed: true, exitCode: 3, meta: { attempt: 2 } });
  assert.equal(await tr.endAgent(id), null, 'an id ends once');
  assert.equal(await tr.endAgent('no-such-id'), null);
  await tr.close();
  const [m] = exported(path.join(dir, 'log')).filter((e) => e.kind === 'measure');
  assert.equal(m.invocation, id);
  assert.equal(m.outcome, 'failed');
  assert.equal(m.exitCode, 3);
  assert.deepEqual(m.meta, { model: 'o3', attempt: '2' });
  assert.ok(Math.abs(m.durationMs - r.duration) < 0.001, `${m.durationMs} vs ${r.duration}`);
  assert.ok(Math.abs(Date.parse(m.time) - r.timestamp) <= 1);
});

test('measure() records ok and failed runs, returns the result and rethrows the error', async (t) => {
  const dir = scratch(t);
  const tr = tracker(dir);
  t.after(() => stopServices(tr.socket));
  assert.equal(await tr.measure('reviewer', 'gemini', () => 42), 42);
  assert.equal(await tr.measure('reviewer', 'gemini', async () => 'done'), 'done');
  const boom = new Error('agent failed');
  await assert.rejects(tr.measure('reviewer', 'gemini', async () => { throw boom; }), (e) => e === boom);
  await tr.close();
  const outcomes = exported(path.join(dir, 'log')).filter((e) => e.kind === 'measure').map((e) => e.outcome);
  assert.deepEqual(outcomes, ['ok', 'ok', 'failed']);
});

test('getAverageTime is perflog\'s mean of the successful measures; null for a stream without one', async (t) => {
  const dir = scratch(t);
  const tr = tracker(dir);
  t.after(() => stopServices(tr.socket));
  for (let i = 0; i < 6; i++) {
    const id = tr.startAgent('planner', 'claude');
    await new Promise((r) => setTimeout(r, 1 + i));
    await tr.endAgent(id, { failed: i === 5 });
  }
  await tr.endAgent(tr.startAgent('planner', 'codex'), { failed: true });
  const mean = await tr.getAverageTime('planner', 'claude');
  const [stream] = JSON.parse(perflog('stats', '--json', '--log', path.join(dir, 'log'), '--agent', 'planner', '--cli', 'claude'));
  assert.equal(mean, stream.meanMs);
  const ok = exported(path.join(dir, 'log')).filter((e) => e.cli === 'claude' && e.outcome === 'ok').map((e) => e.durationMs);
  assert.equal(ok.length, 5);
  assert.ok(Math.abs(mean - ok.reduce((a, b) => a + b, 0) / ok.length) < 0.001);
  assert.equal(await tr.getAverageTime('planner', 'codex'), null);
  assert.equal(await tr.getAverageTime('nobody', 'claude'), null);
  await tr.close();
});

test('a line the service refuses settles, is counted and warned about once, and emits "refused"', async (t) => {
  const dir = scratch(t);
  const warnings = [];
  const tr = tracker(dir, { warn: (m) => warnings.push(m) });
  t.after(() => stopServices(tr.socket));
  const refused = [];
  tr.on('refused', (r) => refused.push(r));
  const committed = [];
  tr.on('committed', (r) => committed.push(r));
  const bad = await Promise.all([tr.endAgent(tr.startAgent('', 'claude')), tr.endAgent(tr.startAgent('', 'claude'))]);
  const good = await tr.endAgent(tr.startAgent('planner', 'claude'));
  assert.equal(bad[0].agent, '');
  assert.equal(refused.length, 2);
  assert.equal(refused[0].reason.field, 'agent');
  assert.deepEqual(committed, [good]);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /refused a measure of \/claude: agent/);
  // Both marks and both measures of the empty agent were refused.
  assert.equal(tr.stats().refused, 4);
  await tr.close();
});

test('when perflog is not installed: one warning, every call settles, and what was dropped is counted', async (t) => {
  const dir = scratch(t);
  const warnings = [];
  const tr = new PerformanceTracker({ log: path.join(dir, 'log'), perflog: path.join(dir, 'no-perflog'), warn: (m) => warnings.push(m) });
  const settled = [];
  for (let i = 0; i < 20; i++) settled.push(await tr.endAgent(tr.startAgent('planner', 'claude')));
  assert.ok(settled.every((r) => r && r.agent === 'planner' && typeof r.duration === 'number'));
  assert.equal(await tr.getAverageTime('planner', 'claude'), null);
  assert.equal(await tr.measure('planner', 'claude', () => 7), 7);
  await tr.close();
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /not found/);
  assert.equal(tr.stats().dropped, 42);
  assert.equal(tr.stats().pending, 0);
});

test('the first argument, the old tracker\'s file path, puts the log beside it; PERFLOG_SOCKET is honoured', async (t) => {
  const dir = scratch(t);
  const file = path.join(dir, '.planning', 'metrics', 'agent-performance.json');
  const tr = new PerformanceTracker(file, { perflog: PERFLOG, idleExit: '1s' });
  assert.equal(tr.log, path.join(dir, '.planning', 'metrics', 'perflog'));
  assert.equal(tr.socket, `${tr.log}.sock`);
  const saved = process.env.PERFLOG_SOCKET;
  process.env.PERFLOG_SOCKET = path.join(dir, 'elsewhere.sock');
  t.after(() => { if (saved === undefined) delete process.env.PERFLOG_SOCKET; else process.env.PERFLOG_SOCKET = saved; });
  const other = new PerformanceTracker(file, { perflog: PERFLOG, idleExit: '1s' });
  assert.equal(other.socket, path.join(dir, 'elsewhere.sock'));
  await other.endAgent(other.startAgent('a', 'b'));
  await other.close();
  await stopServices(other.socket);
  assert.equal(exported(tr.log).length, 1);
});
