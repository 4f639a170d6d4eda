'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { PerformanceTracker } = require('..');
const net = require('node:net');
const { PERFLOG, scratch, perflog, exported, waitFor, answers, services, stopServices, startService } = require('./support');

/** Listens on `socket` with `onConnection`; at the test's end closes it and every connection it took. */
async function server(t, socket, onConnection) {
  const open = new Set();
  const s = net.createServer((c) => { open.add(c); c.on('close', () => open.delete(c)); onConnection(c); });
  await new Promise((resolve) => s.listen(socket, resolve));
  t.after(() => new Promise((resolve) => { for (const c of open) c.destroy(); s.close(resolve); }));
  return s;
}

function tracker(dir, options = {}) {
  return new PerformanceTracker({ log: path.join(dir, 'log'), perflog: PERFLOG, idleExit: '1s', ...options });
}

test('with no service running, the tracker starts one, records every event, and the service stops when idle', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'log');
  const tr = tracker(dir);
  t.after(() => stopServices(tr.socket));
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
  assert.equal(await answers(tr.socket), false, 'nothing answers on the socket any more');
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
  const tr = new PerformanceTracker({ log: path.join(dir, 'log'), perflog: '/nonexistent/perflog', warn: (m) => warnings.push(m) });
  const settled = [];
  for (let i = 0; i < 20; i++) settled.push(await tr.endAgent(tr.startAgent('planner', 'claude')));
  assert.ok(settled.every((r) => r && r.agent === 'planner' && r.cli === 'claude' && r.duration >= 0 && r.timestamp > 0));
  assert.equal(await tr.getAverageTime('planner', 'claude'), null);
  assert.equal(await tr.measure('planner', 'claude', () => 7), 7);
  await tr.close();
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /\/nonexistent\/perflog' was not found/);
  // 21 invocations, a mark and a measure each: every line dropped, none left pending.
  assert.deepEqual(tr.stats(), { sent: 0, acknowledged: 0, refused: 0, dropped: 42, pending: 0, reconnects: 0 });
  assert.equal(fs.existsSync(path.join(dir, 'log')), false);
});

test('a service that cannot start (its log is a file) is given up at once, not after the 10 s of retries', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'not-a-log');
  fs.writeFileSync(log, 'a file, not an LMDB environment\n');
  const warnings = [];
  const tr = new PerformanceTracker({ log, perflog: PERFLOG, idleExit: '1s', warn: (m) => warnings.push(m) });
  t.after(() => stopServices(tr.socket));
  const began = Date.now();
  const records = await Promise.all([0, 1, 2].map(() => tr.endAgent(tr.startAgent('planner', 'claude'))));
  assert.ok(Date.now() - began < 5_000, `settled after ${Date.now() - began} ms`);
  assert.ok(records.every((r) => r && r.agent === 'planner'));
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.match(warnings[0], /perflog serve exited 7\d/);
  assert.equal(tr.stats().dropped, 6);
  assert.equal(fs.readFileSync(log, 'utf8'), 'a file, not an LMDB environment\n');
  await tr.close();
});

test('an exit code outside 0-255 is left out (with a warning) rather than losing the measure', async (t) => {
  const dir = scratch(t);
  const warnings = [];
  const tr = tracker(dir, { warn: (m) => warnings.push(m) });
  t.after(() => stopServices(tr.socket));
  await tr.endAgent(tr.startAgent('coder', 'codex'), { failed: true, exitCode: 300 });
  await tr.endAgent(tr.startAgent('coder', 'codex'), { failed: true, exitCode: -1 });
  await tr.close();
  const measures = exported(path.join(dir, 'log')).filter((e) => e.kind === 'measure');
  assert.deepEqual(measures.map((e) => [e.outcome, e.exitCode]), [['failed', undefined], ['failed', undefined]]);
  assert.equal(warnings.length, 1, warnings.join('\n'));
  assert.equal(tr.stats().refused, 0);
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

test('lines whose acknowledgement was lost are sent again, and the service stores each invocation once', async (t) => {
  const dir = scratch(t);
  const log = path.join(dir, 'log');
  const service = await startService(log, path.join(dir, 'service.sock'));
  t.after(() => stopServices(path.join(dir, 'service.sock')));
  // Between the tracker and the service: the first connection's lines reach the service,
  // but its replies are withheld and, once it has acknowledged them all, the connection
  // is cut. Later connections pass through.
  const N = 50;
  let connections = 0;
  await server(t, path.join(dir, 'proxy.sock'), (client) => {
    const upstream = net.createConnection(path.join(dir, 'service.sock'));
    client.on('error', () => {}); upstream.on('error', () => {});
    client.pipe(upstream);
    if (connections++ > 0) { upstream.pipe(client); return; }
    let replies = '';
    upstream.on('data', (d) => {
      replies += d;
      if (replies.split('\n').some((l) => l === `{"ack":${2 * N}}`)) { client.destroy(); upstream.destroy(); }
    });
  });
  const tr = new PerformanceTracker({ log, socket: path.join(dir, 'proxy.sock'), perflog: PERFLOG, autoStart: false });
  const ids = [];
  const ends = [];
  for (let i = 0; i < N; i++) { const id = tr.startAgent('planner', 'claude'); ids.push(id); ends.push(tr.endAgent(id)); }
  const records = await Promise.all(ends);
  assert.ok(records.every((r) => r && r.agent === 'planner'));
  assert.equal(connections, 2);
  // Resent: the measures only, since each one records its invocation by itself.
  assert.deepEqual(tr.stats(), { sent: 3 * N, acknowledged: N, refused: 0, dropped: 0, pending: 0, reconnects: 1 });
  await tr.close();
  const events = exported(log);
  const measured = events.filter((e) => e.kind === 'measure').map((e) => e.invocation);
  assert.deepEqual(measured.sort(), [...ids].sort(), 'each invocation measured exactly once');
  assert.equal(events.filter((e) => e.kind === 'mark').length, 0, 'the resent marks of measured invocations are not left open');
  service.kill('SIGTERM');
});

test('a line the service could not store because the log was held ("resend") is sent again', async (t) => {
  const dir = scratch(t);
  // A stand-in for the service: the first and the third line it reads are answered
  // "not stored: …; resend", as perflog serve answers while another process holds the
  // log too long; everything is acknowledged.
  const seen = [];
  await server(t, path.join(dir, 'fake.sock'), (c) => {
    let buffer = '', n = 0;
    c.on('data', (d) => {
      buffer += d;
      let reply = '';
      for (let i; (i = buffer.indexOf('\n')) >= 0; buffer = buffer.slice(i + 1)) {
        seen.push(JSON.parse(buffer.slice(0, i)).kind);
        n++;
        if (seen.length === 1 || seen.length === 3) reply += `{"line":${n},"error":"not stored: the log is held by pid 1 (perflog compact); resend"}\n`;
      }
      c.write(`${reply}{"ack":${n}}\n`);
    });
  });
  const warnings = [];
  const tr = new PerformanceTracker({ log: path.join(dir, 'log'), socket: path.join(dir, 'fake.sock'), autoStart: false, warn: (m) => warnings.push(m) });
  const id = tr.startAgent('planner', 'claude');
  assert.equal(await tr.flush(), true);
  assert.deepEqual(seen, ['mark', 'mark'], 'the mark, sent again');
  const record = await tr.endAgent(id);
  assert.equal(record.agent, 'planner');
  assert.deepEqual(seen, ['mark', 'mark', 'measure', 'measure'], 'the measure, sent again');
  assert.deepEqual(tr.stats(), { sent: 4, acknowledged: 2, refused: 0, dropped: 0, pending: 0, reconnects: 0 });
  assert.deepEqual(warnings, []);
  await tr.close();
});
