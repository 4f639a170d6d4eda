// A small Node.js client for `perflog serve` (no dependencies; Node 18 or newer).
//
//   import { PerflogClient } from "./perflog-client.mjs";
//   const perflog = await PerflogClient.connect(".planning/metrics/perflog.sock");
//   await perflog.measure({ agent: "planner", cli: "claude", durationMs: 812.4, outcome: "ok" });
//   const run = perflog.start({ agent: "coder", cli: "codex" });   // a mark
//   ...                                                             // run the agent
//   await run.end({ outcome: "failed", exitCode: 1 });              // its measure
//   await perflog.close();
//
// Each call writes one NDJSON line; its promise resolves once the service has
// committed the event to the log (the service's {"ack":N} covers it) and rejects with
// the service's error reply ({"line":N,"field":…,"error":…}) when the line broke a rule.
// Calls need not be awaited one by one: write many, await them together.

import net from "node:net";
import { randomBytes } from "node:crypto";

export class PerflogClient {
  #socket;
  #sent = 0;            // lines written so far; the next line's number is #sent + 1
  #waiting = new Map(); // line number -> { resolve, reject }
  #buffered = "";

  static connect(path) {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(path, () => resolve(new PerflogClient(socket)));
      socket.once("error", reject);
    });
  }

  constructor(socket) {
    this.#socket = socket;
    socket.setEncoding("utf8");
    socket.on("data", (chunk) => this.#read(chunk));
    socket.on("close", () => this.#failAll(new Error("perflog serve closed the connection")));
    socket.on("error", (error) => this.#failAll(error));
  }

  /** Records a measure timed by the caller. Resolves once it is committed. */
  measure({ agent, cli, durationMs, outcome = "ok", exitCode, meta }) {
    return this.#send({ kind: "measure", agent, cli, durationMs, outcome, exitCode, pid: process.pid, meta });
  }

  /**
   * Records a mark (the invocation is in flight); the returned run's end() records its
   * measure, timed here on the monotonic clock from start() to end().
   */
  start({ agent, cli, meta }) {
    const invocation = randomBytes(8).toString("hex");
    const began = process.hrtime.bigint();
    const started = this.#send({ kind: "mark", agent, cli, invocation, time: new Date().toISOString(), pid: process.pid, meta });
    return {
      started,
      end: ({ outcome = "ok", exitCode } = {}) => {
        const durationMs = Number(process.hrtime.bigint() - began) / 1e6;
        return this.#send({ kind: "measure", agent, cli, invocation, durationMs, outcome, exitCode, pid: process.pid, meta });
      },
    };
  }

  /** Waits for every pending acknowledgement, then closes the connection. */
  async close() {
    await Promise.allSettled([...this.#waiting.values()].map((w) => w.promise));
    this.#socket.end();
  }

  #send(event) {
    const line = this.#sent + 1;
    this.#sent = line;
    let resolve, reject;
    const promise = new Promise((res, rej) => { resolve = res; reject = rej; });
    this.#waiting.set(line, { resolve, reject, promise });
    this.#socket.write(JSON.stringify(event) + "\n"); // undefined fields are left out
    return promise;
  }

  #read(chunk) {
    this.#buffered += chunk;
    let newline;
    while ((newline = this.#buffered.indexOf("\n")) >= 0) {
      const reply = JSON.parse(this.#buffered.slice(0, newline));
      this.#buffered = this.#buffered.slice(newline + 1);
      if (reply.ack !== undefined) {
        // Every line up to `ack` is handled; those without an error reply are committed.
        for (const [line, waiter] of this.#waiting) {
          if (line > reply.ack) break;
          waiter.resolve(line);
          this.#waiting.delete(line);
        }
      } else if (reply.line !== undefined) {
        const waiter = this.#waiting.get(reply.line);
        this.#waiting.delete(reply.line);
        waiter?.reject(new Error(`line ${reply.line}${reply.field ? ` (${reply.field})` : ""}: ${reply.error}`));
      }
    }
  }

  #failAll(error) {
    for (const waiter of this.#waiting.values()) waiter.reject(error);
    this.#waiting.clear();
  }
}

// Run directly: `node perflog-client.mjs SOCKET [COUNT]` records COUNT measures (default
// 1000) and one timed mark/measure pair, then prints how many were committed.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [socketPath, count = "1000"] = process.argv.slice(2);
  const perflog = await PerflogClient.connect(socketPath ?? ".planning/metrics/perflog.sock");
  const clis = ["claude", "codex", "gemini"];
  const pending = [];
  for (let i = 0; i < Number(count); i++) {
    pending.push(perflog.measure({ agent: "node-worker", cli: clis[i % 3], durationMs: 500 + (i % 250), outcome: "ok" }));
  }
  const run = perflog.start({ agent: "node-planner", cli: "claude", meta: { model: "opus" } });
  await new Promise((resolve) => setTimeout(resolve, 25)); // the agent's work
  pending.push(run.started, run.end({ outcome: "ok", exitCode: 0 }));
  const bad = perflog.measure({ agent: "node-worker", cli: "claude", durationMs: -1, outcome: "ok" });
  const refused = await bad.then(() => null, (error) => error.message);
  const results = await Promise.allSettled(pending);
  const committed = results.filter((r) => r.status === "fulfilled").length;
  await perflog.close();
  console.log(JSON.stringify({ committed, refused }));
}
