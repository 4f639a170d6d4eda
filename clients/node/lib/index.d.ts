// Type declarations of perflog's Node.js client.
import { EventEmitter } from 'node:events';

/** String values only: other values are converted with String(). */
export type Meta = Record<string, string | number | boolean>;

/** What endAgent resolves with: the old tracker's record. */
export interface AgentRecord {
  agent: string;
  cli: string;
  /** Milliseconds from startAgent to endAgent, on the monotonic clock. */
  duration: number;
  /** When the invocation ended, in milliseconds since the epoch. */
  timestamp: number;
}

export interface EndOptions {
  /** Records the invocation as failed (it is timed all the same). */
  failed?: boolean;
  /** The agent's exit status, 0…255. */
  exitCode?: number;
  /** Merged over the meta given to startAgent. */
  meta?: Meta;
}

export interface TrackerOptions {
  /** The log directory. Default: beside the metrics file given, else PERFLOG_LOG, else
   *  `.planning/metrics/perflog` of the nearest directory with `.planning/`. */
  log?: string;
  /** The service's socket. Default: PERFLOG_SOCKET, else the log's path with `.sock`. */
  socket?: string;
  /** The perflog program. Default: PERFLOG_BIN, else `perflog` on PATH. */
  perflog?: string;
  /** Start `perflog serve` when no service answers (default true). */
  autoStart?: boolean;
  /** The idle limit of a service this tracker starts (default "60s"). */
  idleExit?: string;
  /** Lines held while the service cannot be reached; beyond it they are dropped and counted (default 100000). */
  maxBuffered?: number;
  /** Where the tracker's one-line warnings go (default console.warn). */
  warn?: (message: string) => void;
}

export interface TrackerStats {
  /** Lines written to the service (marks and measures; resent lines count again). */
  sent: number;
  /** Lines the service committed. */
  acknowledged: number;
  /** Lines the service refused (a value broke a rule). */
  refused: number;
  /** Lines given up: perflog missing, the service unreachable, or the buffer full. */
  dropped: number;
  /** Lines waiting to be written or acknowledged. */
  pending: number;
  /** Connections lost with lines outstanding and made again. */
  reconnects: number;
}

/**
 * Times agent invocations and records them in a perflog log through `perflog serve`,
 * with the API of the old JSON-file PerformanceTracker. No method throws; every
 * promise settles.
 *
 * Events: `committed` (an AgentRecord, once its measure is committed) and `refused`
 * (an AgentRecord with `reason`, the service's error reply).
 */
export declare class PerformanceTracker extends EventEmitter {
  /** @param metricsFile the old tracker's file path: the log is the `perflog` directory beside it. */
  constructor(metricsFile?: string, options?: TrackerOptions);
  constructor(options?: TrackerOptions);
  /** The log directory used. */
  readonly log: string;
  /** The socket used. */
  readonly socket: string;
  /** Starts timing an invocation; returns its id (16 hex digits) at once. */
  startAgent(agent: string, cli: string, meta?: Meta): string;
  /** Ends an invocation; resolves once committed (or given up), or with null for an unknown id. */
  endAgent(id: string, options?: EndOptions): Promise<AgentRecord | null>;
  /** Times fn as one invocation, ok or failed; resolves with its result or rejects with its error. */
  measure<T>(agent: string, cli: string, fn: () => T | Promise<T>): Promise<T>;
  /** perflog's mean of the stream's retained successful measures, in ms; null when it has none. */
  getAverageTime(agent: string, cli: string): Promise<number | null>;
  /** Resolves true once everything sent is acknowledged, false after timeoutMs (default 10000). */
  flush(timeoutMs?: number): Promise<boolean>;
  /** Counts of what the tracker sent, and what became of it. */
  stats(): TrackerStats;
  /** Waits (at most 10 s) for pending acknowledgements, then disconnects. */
  close(): Promise<void>;
  /** The old tracker's name for close(). */
  dispose(): Promise<void>;
}

/** The log perflog uses from cwd (PERFLOG_LOG, else found as git finds .git). */
export declare function findLog(cwd?: string, env?: NodeJS.ProcessEnv): string;
/** The socket of the log's service (PERFLOG_SOCKET, else the log's path with .sock). */
export declare function findSocket(log: string, env?: NodeJS.ProcessEnv): string;
