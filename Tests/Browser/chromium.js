'use strict';
// A headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
// the browser reads commands on fd 3 and writes replies on fd 4, each a JSON text ended by
// a NUL byte), with every network request a page makes recorded.
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const zlib = require('node:zlib');

const CHROMIUM = process.env.CHROMIUM || 'chromium';

class Browser {
  /** Starts the browser; `close()` stops it and removes its profile. */
  constructor() {
    this.profile = fs.mkdtempSync(path.join(os.tmpdir(), 'plchrome-'));
    this.proc = spawn(CHROMIUM, [
      '--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--no-default-browser-check',
      '--disable-extensions', '--disable-background-networking', '--disable-sync', '--disable-dev-shm-usage',
      // Any host name resolves to nothing: a page that tried to fetch from the network fails.
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
      `--user-data-dir=${this.profile}`, '--remote-debugging-pipe', 'about:blank',
    // Its own process group, so that close() stops the renderers and the zygote too, not
    // only the browser process that would leave them writing into the profile.
    ], { stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'], detached: true });
    this.stderr = '';
    this.proc.stdio[2].on('data', (d) => { this.stderr += d; });
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = [];
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => {
      for (const { reject } of this.pending.values()) reject(new Error(`chromium exited (${code ?? signal}): ${this.stderr.slice(-2000)}`));
      this.pending.clear();
      resolve();
    }));
    let buffered = Buffer.alloc(0);
    this.proc.stdio[4].on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (let end = buffered.indexOf(0); end >= 0; end = buffered.indexOf(0)) {
        const message = JSON.parse(buffered.subarray(0, end).toString('utf8'));
        buffered = buffered.subarray(end + 1);
        if (message.id !== undefined && this.pending.has(message.id)) {
          const { resolve, reject } = this.pending.get(message.id);
          this.pending.delete(message.id);
          if (message.error) reject(new Error(`${message.error.message} (${message.error.code})`));
          else resolve(message.result);
        } else if (message.method) {
          for (const listener of this.listeners) listener(message);
        }
      }
    });
  }

  /** Sends one command; resolves with its result. */
  send(method, params = {}, sessionId) {
    const id = this.nextId++;
    const message = { id, method, params };
    if (sessionId) message.sessionId = sessionId;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.stdio[3].write(JSON.stringify(message) + '\0');
    });
  }

  /** A new tab, with the network and page domains on and every request it makes kept in `requests`. */
  async page() {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new Page(this, sessionId);
    this.listeners.push((m) => page.event(m));
    await page.send('Page.enable');
    await page.send('Network.enable');
    await page.send('Runtime.enable');
    return page;
  }

  async close() {
    try { process.kill(-this.proc.pid, 'SIGKILL'); } catch { /* already gone */ }
    await this.exited;
    // A child of the group may still be on its way out; rmSync retries ENOTEMPTY/EBUSY.
    fs.rmSync(this.profile, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
  }
}

class Page {
  constructor(browser, sessionId) {
    this.browser = browser;
    this.sessionId = sessionId;
    this.requests = [];
    this.exceptions = [];
    this.loaded = null;
  }

  send(method, params) { return this.browser.send(method, params, this.sessionId); }

  event(m) {
    if (m.sessionId !== this.sessionId) return;
    if (m.method === 'Network.requestWillBeSent') this.requests.push(m.params.request.url);
    if (m.method === 'Runtime.exceptionThrown') this.exceptions.push(JSON.stringify(m.params.exceptionDetails));
    if (m.method === 'Page.loadEventFired' && this.loaded) { this.loaded(); this.loaded = null; }
  }

  /** Navigates and waits for the load event (at most `timeoutMs`). */
  async open(url, timeoutMs = 30_000) {
    const loaded = new Promise((resolve, reject) => {
      this.loaded = resolve;
      setTimeout(() => reject(new Error(`${url} did not load in ${timeoutMs} ms`)), timeoutMs).unref();
    });
    const result = await this.send('Page.navigate', { url });
    if (result.errorText) throw new Error(`${url}: ${result.errorText}`);
    await loaded;
  }

  /** The value of `expression` (a function body's expression) evaluated in the page. */
  async evaluate(expression) {
    const { result, exceptionDetails } = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (exceptionDetails) throw new Error(`in the page: ${JSON.stringify(exceptionDetails)}`);
    return result.value;
  }

  /** A PNG screenshot of `width` × `height` CSS pixels, decoded (see decodePNG). */
  async screenshot(width = 1200, height = 900) {
    await this.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    return decodePNG(Buffer.from(data, 'base64'));
  }
}

/** An 8-bit RGB or RGBA PNG (non-interlaced, as Chromium writes them) as width, height, channels and pixels. */
function decodePNG(png) {
  if (png.readUInt32BE(0) !== 0x89504e47) throw new Error('not a PNG');
  let offset = 8, width = 0, height = 0, channels = 0;
  const data = [];
  while (offset < png.length) {
    const length = png.readUInt32BE(offset), type = png.toString('ascii', offset + 4, offset + 8);
    const body = png.subarray(offset + 8, offset + 8 + length);
    if (type === 'IHDR') {
      width = body.readUInt32BE(0); height = body.readUInt32BE(4);
      if (body[8] !== 8 || body[12] !== 0) throw new Error('only 8-bit non-interlaced PNGs');
      channels = { 2: 3, 6: 4 }[body[9]];
      if (!channels) throw new Error(`PNG colour type ${body[9]}`);
    } else if (type === 'IDAT') {
      data.push(body);
    }
    offset += 12 + length;
  }
  const raw = zlib.inflateSync(Buffer.concat(data));
  const stride = width * channels, pixels = Buffer.alloc(stride * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)], line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? pixels[y * stride + x - channels] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + x] : 0;
      const c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] : 0;
      let v = line[x];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      pixels[y * stride + x] = v & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** How many distinct colours an image has, and the share of its most common one. */
function colourSpread({ width, height, channels, pixels }) {
  const counts = new Map();
  for (let i = 0; i < width * height; i++) {
    const key = pixels.readUIntBE(i * channels, 3);
    counts.set(key, (counts.get(key) || 0) + 1);
  }
  return { colours: counts.size, commonest: Math.max(...counts.values()) / (width * height) };
}

module.exports = { Browser, decodePNG, colourSpread };
