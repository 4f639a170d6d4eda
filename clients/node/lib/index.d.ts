// Type declarations of perflog's Node.js client.
import { EventEmitter } from 'node:events';

/** Metadata of an invocation. Values are sent as strings (String(value)); null and undefined are left out. */
export type Meta = Record<string, string | number | boolean | null | undefined>;

/** What endAgent resolves with: the old tracker's record. */
export interface AgentRecord {
  agent: string;
  cli: string;
  /** Milliseconds from startAgent to endAgent, on the monotonic clock. */
  duration: number;
  /** When the invocation ended, in milliseconds since the epoch. */
  timestamp: number;
}

/** The service's reply to a line it refused. */
export interface Refusal {
  /** The line's number on its connection. */
  line: number;
  /** The field that broke a rule, when one did. */
  field?: string;
  /** The rule, in words. */
  error: string;
}

/** What the "refused" event carries: the record, and why the service refused it. */
export interface RefusedRecord extends AgentRecord {
  reason: Refusal | undefined;
}

export interface EndOptions {
  /** Records the invocation as failed (it is timed all the same). Default false. */
  failed?: boolean;
  /** The agent's exit status, an integer 0…255 (any other value is left out, with a warning). */
  exitCode?: number;
  /** Merged over the meta given to startAgent. */
  meta?: Meta;
}

export interface TrackerOptions {
  /** The log directory. Default: the `perflog` directory beside the metrics file given,
   *  else PERFLOG_LOG, else `.planning/metrics/perflog` of the nearest directory (the
   *  current one or a parent) that has `.planning/`, else of the current directory. */
  log?: string;
  /** The service's socket. Default: PERFLOG_SOCKET, else the log's path with `.sock` appended. */
  socket?: string;
  /** The perflog program. Default: PERFLOG_BIN, else `perflog` found on PATH. */
  perflog?: string;
  /** Start `perflog serve` when no service answers. Default true. */
  autoStart?: boolean;
  /** The idle limit (`--idle-exit`) of a service this tracker starts, e.g. "60s", "5m". Default "60s". */
  idleExit?: string;
  /** Lines held while waiting for the service; beyond it they are dropped and counted. Default 100000. */
  maxBuffered?: number;
  /** Where the tracker's one-line warnings go (each kind once). Default console.warn. */
  warn?: (message: string) => void;
}

export interface TrackerStats {
  /** Lines written to the service (marks and measures; resent lines count again). */
  sent: number;
  /** Lines the service committed. */
  acknowledged: number;
  /** Lines the service refused (a value broke a rule). */
  refused: number;
  /** Lines given up: perflog missing, the service unreachable, the buffer full, or close() timed out. */
  dropped: number;
  /** Lines waiting to be written or acknowledged. */
  pending: number;
  /** Connections lost with lines outstanding and made again. */
  reconnects: number;
}

/**
 * Times agent invocations and records them in a perflog log through `perflog serve`
 * (started on demand), with the API of the old JSON-file PerformanceTracker.
 *
 * No method throws into the caller, and every promise settles: when perflog is missing
 * or its service cannot be reached, the tracker warns once, counts what it drops in
 * `stats().dropped`, and endAgent still resolves with the locally measured record.
 */
export declare class PerformanceTracker extends EventEmitter {
  /**
   * @param metricsFile the old tracker's file path (e.g. `process.env.METRICS_FILE`):
   *   the log is the `perflog` directory beside it. Omitted or undefined: the default log.
   * @param options where the log, socket and perflog are, and how to start the service.
   */
  constructor(metricsFile?: string, options?: TrackerOptions);
  constructor(options?: TrackerOptions);
  /** The log directory used (absolute). */
  readonly log: string;
  /** The socket used (absolute). */
  readonly socket: string;
  /** The perflog program run to start the service and read the figures. */
  readonly perflog: string;
  /** Starts timing an invocation and sends its mark; returns its id (16 hex digits) at once. */
  startAgent(agent: string, cli: string, meta?: Meta): string;
  /**
   * Ends an invocation and sends its measure; resolves with its record once the service
   * committed it (or refused it, or it was dropped), or with null for an unknown id.
   */
  endAgent(id: string, options?: EndOptions): Promise<AgentRecord | null>;
  /** Times fn (sync or async) as one invocation, ok or failed; resolves with its result or rejects with its own error. */
  measure<T>(agent: string, cli: string, fn: () => T | Promise<T>): Promise<T>;
  /**
   * perflog's mean, in ms, of the stream's retained successful measures (failed runs are
   * not averaged in, unlike the old tracker), after what is pending was acknowledged;
   * null when the stream has none, or on any failure (warned once).
   */
  getAverageTime(agent: string, cli: string): Promise<number | null>;
  /** Resolves true once everything sent is acknowledged, false after timeoutMs (default 10000). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Counts of what the tracker sent, and what became of it. */
  stats(): TrackerStats;
  /**
   * Waits (at most 10 s) for pending acknowledgements, drops (and counts) what is still
   * outstanding, then disconnects. Using the tracker afterwards connects again.
   */
  close(): Promise<void>;
  /** The old tracker's name for close(); returns close()'s promise. */
  dispose(): Promise<void>;

  /** Emitted for each measure the service committed (only computed when listened to). */
  on(event: 'committed', listener: (record: AgentRecord) => void): this;
  /** Emitted for each measure the service refused (also warned about once). */
  on(event: 'refused', listener: (record: RefusedRecord) => void): this;
  on(event: string | symbol, listener: (...args: any[]) => void): this;
  once(event: 'committed', listener: (record: AgentRecord) => void): this;
  once(event: 'refused', listener: (record: RefusedRecord) => void): this;
  once(event: string | symbol, listener: (...args: any[]) => void): this;
}

/** The log perflog uses from cwd: PERFLOG_LOG, else `.planning/metrics/perflog` found as git finds `.git`. */
export declare function findLog(cwd?: string, env?: NodeJS.ProcessEnv): string;
/** The socket of the log's service: PERFLOG_SOCKET, else the log's path with `.sock` appended. */
export declare function findSocket(log: string, env?: NodeJS.ProcessEnv): string;
