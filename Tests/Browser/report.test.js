'use strict';
// The HTML report in a real browser: `perflog report`'s file opened from disk, and the
// live page of `perflog serve --http`. Every figure the page shows (its data-field /
// data-v elements) must equal agent-performance.json's (or /streams'), no request may
// leave the file, and the rendering must not be blank.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync, spawn } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const readline = require('node:readline');
const { Browser, colourSpread } = require('./chromium.js');

const PERFLOG = process.env.PERFLOG_BIN || 'perflog';

function scratch(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'plreport-'));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

function perflog(...args) {
  return execFileSync(PERFLOG, args, { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 28 });
}

/** A log whose figures are known: planner's claude runs take 10, 20, … 100 ms. */
function generatedLog(dir) {
  const records = [];
  let second = 0;
  const at = () => new Date(Date.UTC(2026, 10, 30, 9, 0, second++)).toISOString();
  for (let i = 1; i <= 10; i++) records.push({ agent: 'planner', cli: 'claude', duration: 10 * i, timestamp: at(), success: true });
  records.push({ agent: 'planner', cli: 'claude', duration: 3, timestamp: at(), success: false });
  for (let i = 1; i <= 12; i++) records.push({ agent: 'planner', cli: 'codex', duration: 5 * i + 0.125, timestamp: at(), success: true });
  // A wide range: drawn on a logarithmic axis.
  for (let i = 0; i < 8; i++) records.push({ agent: 'coder', cli: 'claude', duration: 10 ** (i / 2), timestamp: at(), success: i !== 3 });
  records.push({ agent: 'coder', cli: 'gemini', duration: 4000, timestamp: at(), success: false });
  records.push({ agent: 'reviewer <b>&amp;</b>', cli: 'codex', duration: 1.5, timestamp: at(), success: true });
  const seed = path.join(dir, 'seed.json');
  fs.writeFileSync(seed, JSON.stringify(records));
  const log = path.join(dir, 'log');
  perflog('import', seed, '--log', log);
  return log;
}

/** What the page shows, read from its DOM: per stream and per comparison row, data-field → data-v. */
const READ_FIGURES = `(() => {
  const fields = (e) => Object.fromEntries([...e.querySelectorAll('[data-field]')].map((c) => [c.dataset.field, c.dataset.v]));
  return {
    overview: [...document.querySelectorAll('#overview-table tbody tr')].map((r) => ({ agent: r.dataset.agent, cli: r.dataset.cli, fields: fields(r) })),
    details: [...document.querySelectorAll('#streams article.stream')].map((a) => {
      const t = a.querySelector('table.figures');
      return { agent: t.dataset.agent, cli: t.dataset.cli, fields: fields(a) };
    }),
    comparisons: [...document.querySelectorAll('#comparisons article.agent')].map((a) => ({
      agent: a.dataset.agent,
      fastestCli: a.querySelector('[data-field=fastestCli]').dataset.v,
      rows: [...a.querySelectorAll('tr.cmp')].map((r) => ({ cli: r.dataset.cli, fields: fields(r) })),
    })),
    streamCount: document.querySelector('header [data-field=streams]').dataset.v,
    refreshes: Number(document.body.dataset.refreshes || 0),
    charts: document.querySelectorAll('svg[role=img]').length,
    unlabelled: [...document.querySelectorAll('svg')].filter((s) => !s.getAttribute('aria-label') && !s.querySelector(':scope > title')).length,
  };
})()`;

/** Whether a page's text value (data-v) is the JSON value. */
function same(shown, value) {
  if (value === null) return shown === 'null';
  if (typeof value === 'number') return shown !== 'null' && Number(shown) === value;
  return shown === String(value);
}

function assertFigures(label, shown, expected) {
  for (const [field, v] of Object.entries(shown)) {
    if (!(field in expected)) continue;
    assert.ok(same(v, expected[field]), `${label}: ${field} shows ${v}, the JSON has ${expected[field]}`);
  }
}

function assertStreams(rows, streams, requiredFields) {
  const byKey = new Map(streams.map((s) => [`${s.agent}\0${s.cli}`, s]));
  assert.equal(rows.length, streams.length, 'one row per stream');
  for (const row of rows) {
    const s = byKey.get(`${row.agent}\0${row.cli}`);
    assert.ok(s, `the page shows ${row.agent}/${row.cli}, the JSON does not`);
    for (const f of requiredFields) assert.ok(f in row.fields, `${row.agent}/${row.cli} shows no ${f}`);
    assertFigures(`${row.agent}/${row.cli}`, row.fields, s);
  }
}

const OVERVIEW = ['count', 'failures', 'inFlight', 'abandoned', 'meanMs', 'p50Ms', 'p95Ms'];
const DETAIL = [...OVERVIEW, 'minMs', 'p90Ms', 'p99Ms', 'maxMs', 'stddevMs', 'outliers', 'firstAt', 'lastAt', 'total', 'totalFailures'];

test('perflog report: opened from disk, it fetches nothing, is not blank, and shows agent-performance.json\'s figures', async (t) => {
  const dir = scratch(t);
  const log = generatedLog(dir);
  const json = path.join(dir, 'agent-performance.json');
  perflog('project', '--log', log, '--out', json);
  const projection = JSON.parse(fs.readFileSync(json, 'utf8'));
  const file = path.join(dir, 'report.html');
  const written = JSON.parse(perflog('report', '--log', log, '--out', file, '--json'));
  assert.equal(written.path, file);
  assert.equal(written.streams, projection.streams.length);
  const html = fs.readFileSync(file, 'utf8');
  assert.equal(written.bytes, Buffer.byteLength(html));
  assert.doesNotMatch(html, /https?:|\/\/[a-z]|\bsrc=|@import|url\(/i, 'no reference that could leave the file');
  assert.match(html, /reviewer &lt;b&gt;&amp;amp;&lt;\/b&gt;/, 'names are escaped');

  const browser = new Browser();
  t.after(() => browser.close());
  const page = await browser.page();
  await page.open(`file://${file}`);
  const outside = page.requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'));
  assert.deepEqual(outside, [], 'requests that left the file');
  assert.deepEqual(page.exceptions, [], 'script errors');

  const shown = await page.evaluate(READ_FIGURES);
  assertStreams(shown.overview, projection.streams, OVERVIEW);
  assertStreams(shown.details, projection.streams, DETAIL);
  assert.equal(Number(shown.streamCount), projection.streams.length);
  assert.equal(shown.unlabelled, 0, 'every chart has a text alternative');
  assert.ok(shown.charts >= projection.streams.length, 'charts are drawn');

  // The known figures: 10, 20, … 100 ms.
  const planner = shown.details.find((d) => d.agent === 'planner' && d.cli === 'claude');
  assert.equal(planner.fields.meanMs, '55');
  assert.equal(planner.fields.p50Ms, '55');
  assert.equal(planner.fields.failures, '1');
  assert.equal(planner.fields.count, '11');

  const compared = projection.comparisons.filter((c) => c.byCli.length > 1);
  assert.equal(shown.comparisons.length, compared.length);
  for (const c of compared) {
    const s = shown.comparisons.find((x) => x.agent === c.agent);
    assert.ok(s, `no comparison of ${c.agent}`);
    assert.ok(same(s.fastestCli, c.fastestCli), `${c.agent}: fastest ${s.fastestCli}, the JSON says ${c.fastestCli}`);
    assert.deepEqual(s.rows.map((r) => r.cli), c.byCli.map((e) => e.cli), `${c.agent}: the CLIs in the JSON's order`);
    for (const [i, e] of c.byCli.entries()) assertFigures(`${c.agent}/${e.cli}`, s.rows[i].fields, e);
  }
  assert.equal(shown.comparisons.find((x) => x.agent === 'planner').fastestCli, 'codex');

  const shot = colourSpread(await page.screenshot());
  assert.ok(shot.colours > 16 && shot.commonest < 0.97, `the screenshot looks blank: ${JSON.stringify(shot)}`);
});

function get(port, route) {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: route, headers: { accept: 'application/json' } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }));
    }).on('error', reject);
  });
}

async function eventually(what, condition, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('perflog serve --http: GET / is the live report; its figures refresh from /streams after new events', async (t) => {
  const dir = scratch(t);
  const log = generatedLog(dir);
  const service = spawn(PERFLOG, ['serve', '--log', log, '--socket', path.join(dir, 's.sock'), '--http', '127.0.0.1:0', '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const stopped = new Promise((resolve) => service.on('exit', resolve));
  t.after(async () => { service.kill('SIGTERM'); await stopped; });
  const first = await new Promise((resolve, reject) => {
    readline.createInterface({ input: service.stdout }).once('line', resolve);
    service.on('exit', (code) => reject(new Error(`perflog serve exited ${code}`)));
  });
  const port = Number(JSON.parse(first).http.split(':').pop());

  const index = await get(port, '/');
  assert.match(index.type, /text\/plain/, 'a client that does not ask for HTML gets the list of routes');
  assert.match(index.body, /GET \/ +the live report/);

  const browser = new Browser();
  t.after(() => browser.close());
  const page = await browser.page();
  await page.open(`http://127.0.0.1:${port}/`);
  const refreshed = await eventually('the first refresh', async () => {
    const shown = await page.evaluate(READ_FIGURES);
    return shown.refreshes >= 1 && shown;
  });
  let streams = JSON.parse((await get(port, '/streams')).body);
  assertStreams(refreshed.overview, streams, OVERVIEW);
  assertStreams(refreshed.details, streams, DETAIL);

  const before = Number(refreshed.overview.find((r) => r.agent === 'planner' && r.cli === 'claude').fields.count);
  for (const d of ['7ms', '9ms', '11ms']) perflog('record', '--log', log, '--agent', 'planner', '--cli', 'claude', '--duration', d);
  perflog('record', '--log', log, '--agent', 'newcomer', '--cli', 'gemini', '--duration', '3ms');
  const after = await eventually('a refresh that shows the new events', async () => {
    const shown = await page.evaluate(READ_FIGURES);
    const row = shown.overview.find((r) => r.agent === 'planner' && r.cli === 'claude');
    return Number(row.fields.count) === before + 3 && shown.overview.some((r) => r.agent === 'newcomer') && shown;
  });
  streams = JSON.parse((await get(port, '/streams')).body);
  assertStreams(after.overview, streams, OVERVIEW);
  assert.equal(Number(after.streamCount), streams.length);
  const committed = await page.evaluate('document.getElementById("committed").textContent');
  assert.match(committed, /^\d+$/, 'the service\'s counters are shown');

  const outside = page.requests.filter((u) => !u.startsWith(`http://127.0.0.1:${port}/`) && !u.startsWith('data:'));
  assert.deepEqual(outside, [], 'requests to anywhere but the service');
  assert.deepEqual(page.exceptions, [], 'script errors');
});
