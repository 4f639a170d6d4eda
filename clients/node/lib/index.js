'use strict';
// perflog's Node.js client: the old PerformanceTracker's API, recording into a perflog
// log through `perflog serve`. One implementation, in CommonJS; index.mjs re-exports it.
//
// What it promises the program it measures: no call throws, every promise settles,
// nothing keeps the process alive once everything sent is acknowledged, and nothing is
// dropped without being counted (stats().dropped) and warned about once.

const { EventEmitter } = require('node:events');
const { performance } = require('node:perf_hooks');
const { spawn, execFile } = require('node:child_process');
const { randomFillSync } = require('node:crypto');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');

/** How long connecting may keep failing (service starting included) before giving up, ms. */
const CONNECT_DEADLINE_MS = 10_000;
/** The longest a close() or getAverageTime() waits for acknowledgements, ms. */
const FLUSH_TIMEOUT_MS = 10_000;

function isDirectory(p) {
  try { return fs.statSync(p).isDirectory(); } catch { return false; }
}

/**
 * The log perflog would use from `cwd`: PERFLOG_LOG, else `.planning/metrics/perflog` in
 * the nearest directory (cwd or a parent) that has `.planning/`, else in cwd itself.
 */
function findLog(cwd = process.cwd(), env = process.env) {
  if (env.PERFLOG_LOG) return path.resolve(cwd, env.PERFLOG_LOG);
  let dir = path.resolve(cwd);
  for (;;) {
    if (isDirectory(path.join(dir, '.planning'))) return path.join(dir, '.planning', 'metrics', 'perflog');
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return path.resolve(cwd, '.planning', 'metrics', 'perflog');
}

/** The socket of the service of `log`: PERFLOG_SOCKET, else the log's path with `.sock`. */
function findSocket(log, env = process.env) {
  return env.PERFLOG_SOCKET ? path.resolve(env.PERFLOG_SOCKET) : `${log}.sock`;
}

// Invocation ids: 8 random bytes as 16 hex digits, cut from a pooled buffer so that a
// startAgent costs no system call.
const ID_POOL_BYTES = 8 * 1024;
const idPool = Buffer.allocUnsafe(ID_POOL_BYTES);
let idOffset = ID_POOL_BYTES;
function newInvocation() {
  if (idOffset === ID_POOL_BYTES) { randomFillSync(idPool); idOffset = 0; }
  const id = idPool.toString('hex', idOffset, idOffset + 8);
  idOffset += 8;
  return id;
}

function metaJSON(meta) {
  if (meta == null || typeof meta !== 'object') return '';
  const keys = Object.keys(meta);
  if (keys.length === 0) return '';
  const out = {};
  for (const k of keys) if (meta[k] !== undefined && meta[k] !== null) out[k] = String(meta[k]);
  return `,"meta":${JSON.stringify(out)}`;
}

/**
 * The connection to the service: lines queue here, go out in one write per tick, and
 * settle in order as the service acknowledges them. Lines written but not acknowledged
 * when the connection is lost are sent again on the next one (the service stores a
 * retried invocation once).
 */
class Channel {
  constructor(owner, { log, socket, perflog, autoStart, idleExit, maxBuffered }) {
    this.owner = owner;
    this.log = log;
    this.socketPath = socket;
    this.perflog = perflog;
    this.autoStart = autoStart;
    this.idleExit = idleExit;
    this.maxBuffered = maxBuffered;
    this.pending = [];          // entries not yet written on the current connection
    this.inflight = [];         // entries written, oldest first, from index `head`
    this.head = 0;
    this.written = 0;           // lines written on the current connection
    this.socket = null;
    this.state = 'idle';        // idle | connecting | connected | unavailable
    this.scheduled = false;
    this.partial = '';
    this.failingSince = 0;
    this.lastSpawn = 0;
    this.retryTimer = null;
    this.waiters = [];
    this.counts = { sent: 0, acknowledged: 0, refused: 0, dropped: 0, reconnects: 0 };
  }

  get outstanding() { return this.pending.length + this.inflight.length - this.head; }

  send(entry) {
    if (this.state === 'unavailable' || this.outstanding >= this.maxBuffered) {
      if (this.state !== 'unavailable') {
        this.owner._warnOnce('full', `more than ${this.maxBuffered} events wait for perflog serve at ${this.socketPath}; dropping (counted in stats().dropped)`);
      }
      this.settle(entry, 'dropped');
      return;
    }
    this.pending.push(entry);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => { this.scheduled = false; this.flush(); });
    }
  }

  flush() {
    if (this.pending.length === 0) return;
    if (this.state !== 'connected') { if (this.state === 'idle') this.connect(); return; }
    let text = '';
    for (const e of this.pending) {
      e.line = ++this.written;
      text += e.text;
      this.inflight.push(e);
    }
    this.counts.sent += this.pending.length;
    this.pending = [];
    this.socket.ref();
    this.socket.write(text);
  }

  connect() {
    this.state = 'connecting';
    const socket = net.createConnection(this.socketPath);
    let connected = false;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      this.socket = socket;
      this.state = 'connected';
      this.failingSince = 0;
      this.written = 0;
      this.partial = '';
      this.flush();
      if (this.outstanding === 0) socket.unref();
    });
    socket.on('data', (chunk) => this.read(chunk));
    socket.on('error', (error) => { if (!connected) this.failed(error); });
    socket.on('close', () => { if (connected) this.lost(socket); });
  }

  /** Connecting failed: start a service when none is there, and try again for a while. */
  failed(error) {
    if (this.state === 'unavailable') return;
    this.state = 'idle';
    const now = Date.now();
    if (this.failingSince === 0) this.failingSince = now;
    const missing = error.code === 'ENOENT' || error.code === 'ECONNREFUSED';
    if (missing && this.autoStart && now - this.lastSpawn > 2_000) {
      this.lastSpawn = now;
      this.spawnService();
      if (this.state === 'unavailable') return;
    }
    if (now - this.failingSince > CONNECT_DEADLINE_MS || (!missing && !this.autoStart)) {
      this.giveUp(`cannot reach perflog serve at ${this.socketPath}: ${error.message}`);
      return;
    }
    const delay = Math.min(200, 5 * 2 ** Math.min(6, Math.floor((now - this.failingSince) / 100)));
    this.retryTimer = setTimeout(() => { this.retryTimer = null; if (this.state === 'idle') this.connect(); }, delay);
  }

  spawnService() {
    try {
      fs.mkdirSync(path.dirname(this.log), { recursive: true });
      fs.mkdirSync(path.dirname(this.socketPath), { recursive: true });
    } catch { /* perflog serve says what is wrong with the directory */ }
    let child;
    try {
      child = spawn(this.perflog, ['serve', '--log', this.log, '--socket', this.socketPath, '--idle-exit', this.idleExit],
        { detached: true, stdio: 'ignore' });
    } catch (error) {
      this.unavailable(error);
      return;
    }
    child.on('error', (error) => this.unavailable(error));
    child.on('exit', (code) => {
      // 75: another client's service won the race for the socket; that one is used.
      if (code !== 0 && code !== 75 && code !== null) this.serviceExit = code;
    });
    child.unref();
  }

  unavailable(error) {
    if (this.state === 'unavailable') return;
    this.state = 'unavailable';
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    const why = error.code === 'ENOENT' ? `'${this.perflog}' was not found (install perflog or set PERFLOG_BIN)` : error.message;
    this.owner._warnOnce('unavailable', `${why}; events are not recorded (counted in stats().dropped)`);
    this.dropAll();
  }

  giveUp(message) {
    const exit = this.serviceExit ? ` (the service it started exited ${this.serviceExit})` : '';
    this.owner._warnOnce('unreachable', `${message}${exit}; dropping what waits (counted in stats().dropped)`);
    this.failingSince = 0;
    this.dropAll();
  }

  dropAll() {
    const entries = this.inflight.slice(this.head).concat(this.pending);
    this.inflight = []; this.head = 0; this.pending = [];
    for (const e of entries) this.settle(e, 'dropped');
  }

  /** The connection closed: what it did not acknowledge goes out again on the next. */
  lost(socket) {
    if (this.socket !== socket) return;
    this.socket = null;
    this.state = 'idle';
    const unacknowledged = this.inflight.slice(this.head);
    this.inflight = []; this.head = 0;
    this.pending = unacknowledged.concat(this.pending);
    if (this.pending.length > 0) {
      this.counts.reconnects++;
      this.connect();
    }
  }

  read(chunk) {
    const text = this.partial + chunk;
    let start = 0;
    for (;;) {
      const end = text.indexOf('\n', start);
      if (end < 0) break;
      this.reply(text.slice(start, end));
      start = end + 1;
    }
    this.partial = text.slice(start);
    if (this.outstanding === 0 && this.socket) this.socket.unref();
  }

  reply(line) {
    let reply;
    try { reply = JSON.parse(line); } catch { return; }
    const first = this.head < this.inflight.length ? this.inflight[this.head].line : 0;
    if (typeof reply.ack === 'number') {
      while (this.head < this.inflight.length && this.inflight[this.head].line <= reply.ack) {
        const e = this.inflight[this.head++];
        this.settle(e, e.refusal ? 'refused' : 'committed');
      }
      if (this.head > 1024 && this.head * 2 > this.inflight.length) {
        this.inflight = this.inflight.slice(this.head); this.head = 0;
      }
    } else if (typeof reply.line === 'number' && first > 0) {
      const e = this.inflight[this.head + reply.line - first];
      if (e) e.refusal = reply;
    }
  }

  settle(entry, status) {
    if (status === 'committed') this.counts.acknowledged++;
    else if (status === 'refused') this.counts.refused++;
    else this.counts.dropped++;
    if (entry.done) entry.done(status, entry.refusal);
    if (this.waiters.length && this.outstanding === 0) {
      const waiters = this.waiters; this.waiters = [];
      for (const w of waiters) w();
    }
  }

  /** Resolves once nothing is outstanding, or after `timeoutMs`. */
  drained(timeoutMs) {
    if (this.outstanding === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => { clearTimeout(timer); resolve(true); };
      this.waiters.push(done);
    });
  }

  close() {
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    if (this.socket) { this.socket.end(); this.socket.unref(); this.socket = null; }
    if (this.state !== 'unavailable') this.state = 'idle';
  }
}

/**
 * Times agent invocations and records them in a perflog log, with the API of the old
 * JSON-file PerformanceTracker.
 */
class PerformanceTracker extends EventEmitter {
  /**
   * @param {string} [metricsFile] the old tracker's file path; the log is the `perflog`
   *   directory beside it. Omitted: the log is found as perflog finds it.
   * @param {object} [options] `{log, socket, perflog, autoStart, idleExit, maxBuffered, warn}`
   */
  constructor(metricsFile, options = {}) {
    super();
    if (metricsFile !== null && typeof metricsFile === 'object') { options = metricsFile; metricsFile = undefined; }
    options = options || {};
    const log = options.log ? path.resolve(options.log)
      : metricsFile ? path.join(path.dirname(path.resolve(metricsFile)), 'perflog')
      : findLog();
    this.log = log;
    this.socket = options.socket ? path.resolve(options.socket) : findSocket(log);
    this.perflog = options.perflog || process.env.PERFLOG_BIN || 'perflog';
    this._warn = options.warn || ((message) => console.warn(`[perflog] ${message}`));
    this._warned = new Set();
    this._active = new Map();
    this._names = new Map();
    this._channel = new Channel(this, {
      log, socket: this.socket, perflog: this.perflog,
      autoStart: options.autoStart !== false,
      idleExit: options.idleExit || '60s',
      maxBuffered: options.maxBuffered || 100_000,
    });
  }

  /** `"agent":…,"cli":…` for a stream, escaped once. */
  _stream(agent, cli) {
    const key = `${agent}\u0000${cli}`;
    let s = this._names.get(key);
    if (s === undefined) {
      s = `"agent":${JSON.stringify(String(agent))},"cli":${JSON.stringify(String(cli))}`;
      if (this._names.size < 10_000) this._names.set(key, s);
    }
    return s;
  }

  _warnOnce(kind, message) {
    if (this._warned.has(kind)) return;
    this._warned.add(kind);
    try { this._warn(message); } catch { /* a warning must not throw either */ }
  }

  /** Starts timing an invocation; returns its id at once (the mark is sent in the background). */
  startAgent(agent, cli, meta) {
    const id = newInvocation();
    const stream = this._stream(agent, cli);
    const metaText = metaJSON(meta);
    this._active.set(id, { agent, cli, stream, meta, began: performance.now() });
    this._channel.send({
      text: `{"kind":"mark",${stream},"invocation":"${id}","time":"${new Date().toISOString()}","pid":${process.pid}${metaText}}\n`,
      done: null,
    });
    return id;
  }

  /**
   * Ends an invocation; resolves with `{agent, cli, duration, timestamp}` (duration in ms,
   * timestamp in epoch ms) once the service has committed it, or `null` for an unknown id.
   */
  endAgent(id, { failed = false, exitCode, meta } = {}) {
    const info = this._active.get(id);
    if (!info) return Promise.resolve(null);
    this._active.delete(id);
    const duration = performance.now() - info.began;
    const timestamp = Date.now();
    const record = { agent: info.agent, cli: info.cli, duration, timestamp };
    const merged = meta ? { ...(info.meta || {}), ...meta } : info.meta;
    const code = Number.isInteger(exitCode) ? `,"exitCode":${exitCode}` : '';
    const text = `{"kind":"measure",${info.stream},"invocation":"${id}","durationMs":${duration},"outcome":"${failed ? 'failed' : 'ok'}"${code},"time":"${new Date(timestamp).toISOString()}","pid":${process.pid}${metaJSON(merged)}}\n`;
    return new Promise((resolve) => {
      this._channel.send({
        text,
        done: (status, refusal) => {
          if (status === 'committed' && this.listenerCount('committed') > 0) this._emitSafely('committed', record);
          if (status === 'refused') {
            const what = refusal ? `${refusal.field ? refusal.field + ': ' : ''}${refusal.error}` : 'refused';
            this._warnOnce('refused', `perflog refused a measure of ${info.agent}/${info.cli}: ${what}`);
            this._emitSafely('refused', { ...record, reason: refusal });
          }
          resolve(record);
        },
      });
    });
  }

  _emitSafely(name, value) {
    try { this.emit(name, value); } catch (error) { this._warnOnce(`listener-${name}`, `a '${name}' listener threw: ${error.message}`); }
  }

  /** Times `fn` (sync or async) as one invocation; returns its result or rethrows its error. */
  async measure(agent, cli, fn) {
    const id = this.startAgent(agent, cli);
    let result;
    try {
      result = await fn();
    } catch (error) {
      await this.endAgent(id, { failed: true });
      throw error;
    }
    await this.endAgent(id);
    return result;
  }

  /** Resolves (true) once everything sent so far is acknowledged, or false after `timeoutMs`. */
  flush(timeoutMs = FLUSH_TIMEOUT_MS) {
    return this._channel.drained(timeoutMs);
  }

  /**
   * The mean duration in ms of the stream's retained successful measures, as perflog
   * computes it (`perflog stats`), or null when it has none.
   */
  async getAverageTime(agent, cli) {
    await this.flush();
    if (this._channel.state === 'unavailable') return null;
    const args = ['stats', '--json', '--log', this.log, '--agent', String(agent), '--cli', String(cli)];
    return new Promise((resolve) => {
      execFile(this.perflog, args, { maxBuffer: 1 << 20 }, (error, stdout, stderr) => {
        if (error) {
          // 66: no log yet, so nothing was recorded; not worth a warning.
          if (error.code !== 66) this._warnOnce('stats', `perflog stats failed: ${String(stderr || error.message).trim()}`);
          resolve(null);
          return;
        }
        try {
          const stream = JSON.parse(stdout).find((s) => s.agent === String(agent) && s.cli === String(cli));
          resolve(stream && typeof stream.meanMs === 'number' ? stream.meanMs : null);
        } catch {
          resolve(null);
        }
      });
    });
  }

  /** What the tracker has done: lines sent, acknowledged, refused, dropped, pending; reconnects. */
  stats() {
    const c = this._channel.counts;
    return { sent: c.sent, acknowledged: c.acknowledged, refused: c.refused, dropped: c.dropped,
      pending: this._channel.outstanding, reconnects: c.reconnects };
  }

  /** Waits (at most 10 s) for what is pending to be acknowledged, then disconnects. */
  async close() {
    await this.flush();
    this._channel.close();
  }

  /** The old tracker's name for close(). */
  dispose() {
    return this.close();
  }
}

module.exports = { PerformanceTracker, findLog, findSocket };
