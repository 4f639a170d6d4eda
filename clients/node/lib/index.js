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
const { randomBytes } = require('node:crypto');
const net = require('node:net');
const fs = require('node:fs');
const path = require('node:path');

/** How long connecting may keep failing (service starting included) before giving up, ms. */
const CONNECT_DEADLINE_MS = 10_000;
/** The longest close(), flush() and getAverageTime() wait for acknowledgements, ms. */
const FLUSH_TIMEOUT_MS = 10_000;
/** A service we started is given this long to come up before we start another, ms. */
const RESPAWN_AFTER_MS = 2_000;
/** How often a line the service could not store because the log was busy is sent again. */
const BUSY_RETRIES = 3;
/** `perflog stats` waits up to 10 s for a busy log; past this it is stuck, ms. */
const STATS_TIMEOUT_MS = 15_000;

/** Connection errors that a service (re)starting explains, so worth retrying. */
const RETRIABLE = new Set(['ENOENT', 'ECONNREFUSED', 'EAGAIN', 'ECONNRESET']);

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

// The two things every line needs and that are slow to make one at a time: an
// invocation id (8 random bytes, 16 hex digits) and an ISO 8601 time. Ids are cut from
// a pooled hex string (one system call per 512 ids); times reuse the formatted second
// (Date#toISOString costs about 2 µs, more than the rest of a startAgent).
let idPool = '';
let idOffset = 0;
function newInvocation() {
  if (idOffset === idPool.length) { idPool = randomBytes(4096).toString('hex'); idOffset = 0; }
  const id = idPool.slice(idOffset, idOffset + 16);
  idOffset += 16;
  return id;
}

let isoSecond = -1;
let isoPrefix = '';
function isoTime(ms) {
  const ofSecond = ms % 1000;
  const second = ms - ofSecond;
  if (second !== isoSecond) { isoSecond = second; isoPrefix = new Date(second).toISOString().slice(0, 20); }
  return `${isoPrefix}${ofSecond < 10 ? '00' : ofSecond < 100 ? '0' : ''}${ofSecond}Z`;
}

const PID = process.pid;

/** `,"meta":{…}` with every value a string, or '' when there is none. */
function metaJSON(meta) {
  if (meta == null || typeof meta !== 'object') return '';
  let out = null;
  for (const k of Object.keys(meta)) {
    const v = meta[k];
    if (v === undefined || v === null) continue;
    (out || (out = {}))[k] = String(v);
  }
  return out ? `,"meta":${JSON.stringify(out)}` : '';
}

/**
 * The connection to the service: lines queue here, go out in one write per tick, and
 * settle in order as the service acknowledges them. Lines written but not acknowledged
 * when the connection is lost are sent again on the next one (the service stores a
 * retried invocation once).
 *
 * An entry is `{text, marks | measures (its invocation), done, line, refusal, tries}`:
 * `done(status, refusal)` is called once, with 'committed', 'refused' or 'dropped'.
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
    this.held = 0;              // entries between their reply and being queued again
    this.written = 0;           // lines written on the current connection
    this.socket = null;         // the connected socket
    this.attempt = null;        // a socket still connecting
    this.state = 'idle';        // idle | connecting | connected | unavailable
    this.scheduled = false;
    this.partial = '';
    this.failingSince = 0;     // since when connecting has failed (0: it has not)
    this.progress = false;     // whether the current connection has had a reply
    this.lastSpawn = 0;
    this.serviceExit = null;
    this.retryTimer = null;
    this.waiters = [];
    this.counts = { sent: 0, acknowledged: 0, refused: 0, dropped: 0, reconnects: 0 };
  }

  get outstanding() { return this.pending.length + this.inflight.length - this.head + this.held; }

  send(entry) {
    if (this.state === 'unavailable') { this.settle(entry, 'dropped'); return; }
    if (this.outstanding >= this.maxBuffered) {
      this.owner._warnOnce('full', `more than ${this.maxBuffered} events wait for perflog serve at ${this.socketPath}; dropping (counted in stats().dropped)`);
      this.settle(entry, 'dropped');
      return;
    }
    this.pending.push(entry);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => { this.scheduled = false; this.flush(); });
    }
  }

  /** Writes what is pending, in one write, or connects first. */
  flush() {
    if (this.pending.length === 0) return;
    if (this.state !== 'connected') { if (this.state === 'idle') this.connect(); return; }
    let text = '';
    for (const e of this.pending) {
      e.line = ++this.written;
      e.refusal = undefined;   // a refusal on an earlier connection is asked again
      text += e.text;
      this.inflight.push(e);
    }
    this.counts.sent += this.pending.length;
    this.pending = [];
    this.socket.ref();         // replies are awaited: keep the process alive for them
    this.socket.write(text);
  }

  connect() {
    this.state = 'connecting';
    const socket = net.createConnection(this.socketPath);
    this.attempt = socket;
    let connected = false;
    socket.setEncoding('utf8');
    socket.on('connect', () => {
      connected = true;
      this.attempt = null;
      this.socket = socket;
      this.state = 'connected';
      this.progress = false;   // until a reply comes, this connection proves nothing
      this.lastSpawn = 0;      // a lost service may be started again at once
      this.serviceExit = null;
      this.written = 0;        // line numbers restart on every connection
      this.partial = '';
      this.flush();
      if (this.outstanding === 0) socket.unref();
    });
    socket.on('data', (chunk) => this.read(socket, chunk));
    socket.on('error', (error) => { if (!connected) this.failed(socket, error); });
    socket.on('close', () => { if (connected) this.lost(socket); });
  }

  /** Connecting failed: start a service when none is there, and try again for a while. */
  failed(socket, error) {
    if (this.attempt !== socket || this.state !== 'connecting') return;
    this.attempt = null;
    this.state = 'idle';
    const now = Date.now();
    if (this.failingSince === 0) this.failingSince = now;
    if (!RETRIABLE.has(error.code)) {
      // EACCES, ENOTSOCK, a path too long…: a new service would not change it.
      this.giveUp(`cannot connect to perflog serve at ${this.socketPath}: ${error.message}`);
      return;
    }
    if (this.autoStart && error.code !== 'EAGAIN' && now - this.lastSpawn > RESPAWN_AFTER_MS) {
      this.lastSpawn = now;
      this.spawnService();
      if (this.state === 'unavailable') return;
    }
    this.retryLater(`cannot reach perflog serve at ${this.socketPath}: ${error.message}`);
  }

  /** Connects again after a pause that grows, until the deadline: then gives up. */
  retryLater(why) {
    const now = Date.now();
    if (this.failingSince === 0) this.failingSince = now;
    if (now - this.failingSince > CONNECT_DEADLINE_MS) { this.giveUp(why); return; }
    // Quick retries while a service starts (it listens within tens of ms), then 200 ms.
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
      // Detached, in its own process group, with no stdio of ours: it outlives this
      // program, does not get its terminal's signals, and stops after --idle-exit.
      child = spawn(this.perflog, ['serve', '--log', this.log, '--socket', this.socketPath, '--idle-exit', this.idleExit],
        { detached: true, stdio: 'ignore' });
    } catch (error) {
      this.unavailable(error);
      return;
    }
    child.on('error', (error) => this.unavailable(error));
    child.on('exit', (code) => {
      // 0: it stopped when idle; 75: another client's service won the race for the
      // socket, and that one is used. Anything else is a service that cannot start
      // (a log it refuses, a directory it cannot use): retrying would not help.
      if (code === 0 || code === 75 || code === null) return;
      this.serviceExit = code;
      if (this.state !== 'connected') {
        this.giveUp(`perflog serve exited ${code} (run '${this.perflog} serve --log ${this.log}' to see why)`);
      }
    });
    child.unref();
  }

  /** perflog cannot be run: nothing will be recorded by this tracker. */
  unavailable(error) {
    if (this.state === 'unavailable') return;
    this.state = 'unavailable';
    this.stopTrying();
    const why = error.code === 'ENOENT' ? `'${this.perflog}' was not found (install perflog or set PERFLOG_BIN)` : `cannot run '${this.perflog}': ${error.message}`;
    this.owner._warnOnce('unavailable', `${why}; events are not recorded (counted in stats().dropped)`);
    this.dropAll();
  }

  /** The service cannot be reached now: drop what waits; the next event tries again. */
  giveUp(message) {
    this.stopTrying();
    if (this.state !== 'unavailable') this.state = 'idle';
    this.failingSince = 0;
    this.owner._warnOnce('unreachable', `${message}; dropping what waits (counted in stats().dropped)`);
    this.dropAll();
  }

  stopTrying() {
    if (this.retryTimer) { clearTimeout(this.retryTimer); this.retryTimer = null; }
    if (this.attempt) { const a = this.attempt; this.attempt = null; a.destroy(); }
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
    let resend = this.inflight.slice(this.head).concat(this.pending);
    this.inflight = []; this.head = 0;
    // A mark whose measure goes out too is left out: the measure alone records the
    // invocation, and the service, which skips a retried measure, would store a retried
    // mark of an invocation it has measured already as a new one, open for ever.
    let measured = null;
    for (const e of resend) if (e.measures) (measured || (measured = new Set())).add(e.measures);
    if (measured) resend = resend.filter((e) => !(e.marks && measured.has(e.marks)));
    this.pending = resend;
    if (this.pending.length > 0) {
      this.counts.reconnects++;
      // A connection closed before any reply (a service at its connection limit, or
      // stopping) is retried like a failed connect, with pauses and a deadline.
      if (this.progress) this.connect(); else this.retryLater('perflog serve closed the connection without a reply');
    }
  }

  read(socket, chunk) {
    if (socket !== this.socket) return;
    const text = this.partial + chunk;
    let start = 0;
    for (let end; (end = text.indexOf('\n', start)) >= 0; start = end + 1) this.reply(text.slice(start, end));
    this.partial = text.slice(start);
    if (this.outstanding === 0 && this.socket) this.socket.unref();
  }

  reply(line) {
    let reply;
    try { reply = JSON.parse(line); } catch { return; }
    if (reply === null || typeof reply !== 'object') return;
    if (typeof reply.ack === 'number') {
      this.progress = true;
      this.failingSince = 0;
      let retry = null;
      while (this.head < this.inflight.length && this.inflight[this.head].line <= reply.ack) {
        const e = this.inflight[this.head++];
        if (!e.refusal) { this.settle(e, 'committed'); continue; }
        // "not stored: …; resend": the log was held by another process; worth again.
        if (/; resend$/.test(String(e.refusal.error)) && (e.tries = (e.tries || 0) + 1) <= BUSY_RETRIES) {
          // Not a mark whose invocation has ended, though: sent after its measure, it
          // would be stored as a new invocation, open for ever. The measure suffices.
          if (e.marks && !this.owner._active.has(e.marks)) { this.settle(e, 'refused'); continue; }
          (retry || (retry = [])).push(e);
          this.held++;
          continue;
        }
        this.settle(e, 'refused');
      }
      if (this.head > 1024 && this.head * 2 > this.inflight.length) {
        this.inflight = this.inflight.slice(this.head); this.head = 0;
      }
      if (retry) { this.held = 0; this.pending = retry.concat(this.pending); this.flush(); }
    } else if (typeof reply.line === 'number' && this.head < this.inflight.length) {
      // Lines of one connection are numbered consecutively, so the index follows.
      const e = this.inflight[this.head + reply.line - this.inflight[this.head].line];
      if (e && e.line === reply.line) e.refusal = reply;
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

  /** Resolves true once nothing is outstanding, or false after `timeoutMs`. */
  drained(timeoutMs) {
    if (this.outstanding === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => { clearTimeout(timer); resolve(true); };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      this.waiters.push(done);
    });
  }

  /** Disconnects; whatever is still outstanding is dropped (and counted). */
  close() {
    this.stopTrying();
    if (this.outstanding > 0) {
      this.owner._warnOnce('close', `closing with ${this.outstanding} events not acknowledged by perflog serve at ${this.socketPath}; dropping them (counted in stats().dropped)`);
      this.dropAll();
    }
    if (this.socket) { const s = this.socket; this.socket = null; s.end(); s.unref(); }
    if (this.state !== 'unavailable') this.state = 'idle';
    this.failingSince = 0;
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
      : typeof metricsFile === 'string' && metricsFile ? path.join(path.dirname(path.resolve(metricsFile)), 'perflog')
        : findLog();
    this.log = log;
    this.socket = options.socket ? path.resolve(options.socket) : findSocket(log);
    this.perflog = options.perflog || process.env.PERFLOG_BIN || 'perflog';
    this._warn = typeof options.warn === 'function' ? options.warn : (message) => console.warn(`[perflog] ${message}`);
    this._warned = new Set();
    this._active = new Map();
    this._names = new Map();
    const maxBuffered = Number(options.maxBuffered);
    this._channel = new Channel(this, {
      log, socket: this.socket, perflog: this.perflog,
      autoStart: options.autoStart !== false,
      idleExit: String(options.idleExit || '60s'),
      maxBuffered: maxBuffered > 0 ? maxBuffered : 100_000,
    });
  }

  /** `"agent":…,"cli":…` of a stream, escaped once and kept (for a bounded number of streams). */
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
    const began = performance.now();
    this._active.set(id, { agent, cli, stream, meta, began });
    this._channel.send({
      text: `{"kind":"mark",${stream},"invocation":"${id}","time":"${isoTime(Date.now())}","pid":${PID}${metaJSON(meta)}}\n`,
      marks: id,
      done: null,
    });
    return id;
  }

  /**
   * Ends an invocation; resolves with `{agent, cli, duration, timestamp}` (duration in ms,
   * timestamp in epoch ms) once the service has committed it, or `null` for an unknown id.
   */
  endAgent(id, options) {
    const ended = performance.now();
    const info = this._active.get(id);
    if (!info) return Promise.resolve(null);
    this._active.delete(id);
    const { failed = false, exitCode, meta } = options || {};
    const duration = ended - info.began;
    const timestamp = Date.now();
    const record = { agent: info.agent, cli: info.cli, duration, timestamp };
    const merged = meta ? { ...(info.meta || {}), ...meta } : info.meta;
    let code = '';
    if (exitCode !== undefined && exitCode !== null) {
      // A bad exit code would get the whole measure refused: keep the measure.
      if (Number.isInteger(exitCode) && exitCode >= 0 && exitCode <= 255) code = `,"exitCode":${exitCode}`;
      else this._warnOnce('exitCode', `exitCode ${exitCode} is not an integer 0-255; recorded without it`);
    }
    const text = `{"kind":"measure",${info.stream},"invocation":"${id}","durationMs":${duration},"outcome":"${failed ? 'failed' : 'ok'}"${code},"time":"${isoTime(timestamp)}","pid":${PID}${metaJSON(merged)}}\n`;
    return new Promise((resolve) => {
      this._channel.send({
        text,
        measures: id,
        done: (status, refusal) => {
          if (status === 'committed') {
            if (this.listenerCount('committed') > 0) this._emitSafely('committed', record);
          } else if (status === 'refused') {
            const what = refusal ? `${refusal.field ? `${refusal.field}: ` : ''}${refusal.error}` : 'refused';
            this._warnOnce('refused', `perflog refused a measure of ${info.agent}/${info.cli}: ${what}`);
            this._emitSafely('refused', { ...record, reason: refusal });
          }
          resolve(record);
        },
      });
    });
  }

  _emitSafely(name, value) {
    try { this.emit(name, value); } catch (error) { this._warnOnce(`listener-${name}`, `a '${name}' listener threw: ${error && error.message}`); }
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

  /** Resolves true once everything sent so far is acknowledged, or false after `timeoutMs`. */
  flush(timeoutMs = FLUSH_TIMEOUT_MS) {
    return this._channel.drained(timeoutMs);
  }

  /**
   * The mean duration in ms of the stream's retained successful measures, as perflog
   * computes it (`perflog stats`), or null when it has none.
   */
  async getAverageTime(agent, cli) {
    await this.flush();
    if (this._channel.state === 'unavailable') return null;   // warned already
    const args = ['stats', '--json', '--log', this.log, '--agent', String(agent), '--cli', String(cli)];
    return new Promise((resolve) => {
      execFile(this.perflog, args, { maxBuffer: 1 << 20, timeout: STATS_TIMEOUT_MS }, (error, stdout, stderr) => {
        if (error) {
          // 66: there is no log yet, so nothing was recorded: no average, and no news.
          if (error.code !== 66) this._warnOnce('stats', `perflog stats failed: ${String(stderr || error.message).trim()}`);
          resolve(null);
          return;
        }
        try {
          const stream = JSON.parse(stdout).find((s) => s.agent === String(agent) && s.cli === String(cli));
          resolve(stream && typeof stream.meanMs === 'number' ? stream.meanMs : null);
        } catch (e) {
          this._warnOnce('stats', `perflog stats printed what is not its JSON: ${e.message}`);
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

  /**
   * Waits (at most 10 s) for what is pending to be acknowledged, drops (and counts) what
   * still is not, then disconnects. The tracker may be used again afterwards.
   */
  async close() {
    await this.flush();
    this._channel.close();
  }

  /** The old tracker's name for close(); returns close()'s promise. */
  dispose() {
    return this.close();
  }
}

module.exports = { PerformanceTracker, findLog, findSocket };
