// The rows of stats as readers see them: what the decoder (stats.ts) builds and the printer
// (table.ts) prints, below both.

/** What a row is: application code, Node/V8 internals, or a V8 runtime bucket. */
export type FuncKind = 'user' | 'builtin' | 'program' | 'gc'

/** The numbers yappi keeps for a function and for a call edge. Times are in seconds. */
export interface CallNumbers {
  /** Calls, recursive ones included. An estimate unless {@link CallNumbers.callsExact}. */
  ncall: number
  /** Calls that were not recursive (the outermost activation). */
  nactualcall: number
  /** Whether `ncall` is an exact count (`counts: 'exact'`); otherwise it counts calls observed between samples. */
  callsExact: boolean
  /**
   * Whether `nactualcall` is exact: with exact counts, when the samples saw every call (so they
   * saw which were recursive) or there was at most one call. Otherwise it is an estimate.
   */
  nactualcallExact: boolean
  /** Inclusive time in seconds; recursion counted once. */
  ttot: number
  /** Self time in seconds. */
  tsub: number
  /** `ttot / ncall`, in seconds (0 without calls). An estimate unless {@link CallNumbers.tavgExact}. */
  tavg: number
  /**
   * Whether `tavg` divides by an exact count (the same as `callsExact`). From an estimated
   * `ncall`, a lower bound, `tavg` is an estimate and an upper bound (printed `tavg~`).
   */
  tavgExact: boolean
  /** Samples taken with this function on top of the stack. */
  samples: number
  /** Samples taken with this function anywhere on the stack. */
  samplesTotal: number
}

/** One end of a call edge, seen from the other end. */
export interface CallEdge extends CallNumbers {
  /** The other function's {@link FuncStat.id}. */
  id: number
  /** The other function's name. */
  name: string
  /** The other function's file. */
  module: string
  /** The other function's 1-based line. */
  line: number
  /** The other function's `module:line name`. */
  fullName: string
}

/** Statistics of one function. */
export interface FuncStat extends CallNumbers {
  /** Stable within a stats session (until {@link clearStats}). */
  id: number
  /** Function name; `(anonymous)` for functions without one. With a source map, the original name. */
  name: string
  /** File path, or URL for non-file code; empty for natives. With a source map, the original file. */
  module: string
  /** 1-based line of the function's start. */
  line: number
  /** 1-based column of the function's start. */
  column: number
  /** Application code, Node/V8 internals, or a V8 runtime bucket. */
  kind: FuncKind
  /** `module:line name`, the key yappi merges by. */
  fullName: string
  /** Functions that called this one, with the time and calls of each call edge. */
  callers: CallEdge[]
  /** Functions this one called, with the time and calls of each call edge. */
  callees: CallEdge[]
}

/** What {@link FuncStats.sort} orders by (yappi's aliases such as `totaltime` are accepted too). */
export type SortKey = 'name' | 'module' | 'line' | 'ncall' | 'nactualcall' | 'ttot' | 'tsub' | 'tavg' | 'samples' | 'samplesTotal'
/** Ascending or descending (`'ascending'` and `'descending'` are accepted too). */
export type SortOrder = 'asc' | 'desc'

/** Statistics of one profiled thread. Times in seconds. */
export interface ThreadStat {
  /** Node's `threadId` (0 = main thread). */
  id: number
  /** `main`, or the worker's `name` option (`worker <id>` without one). */
  name: string
  /** Wall time covered by the thread's profiles. */
  wallTime: number
  /**
   * CPU time of the thread over its profiles, on either clock: read from the thread's CPU clock
   * at every rotation where the OS allows, else estimated as its busy (non-idle) wall time.
   */
  cpuTime: number
  /** The part of {@link ThreadStat.cpuTime} that is estimated rather than measured (0 when all was measured). */
  cpuTimeEstimated: number
  /** Wall time spent waiting in the event loop. */
  idleTime: number
  /**
   * Time on the session's clock spent in the profiler's own code on this thread (V8 producing
   * its profiles for the profiler, the reads the application asked for), cut out of every
   * function's stats: on the wall clock the functions' self times, `idleTime` and
   * `profilerTime` add up to `wallTime`; on the CPU clock the self times and `profilerTime` to
   * `cpuTime`. Sampled, like the rest; {@link getOverhead} times the same work.
   */
  profilerTime: number
  /** Samples taken on the thread. */
  samples: number
  /** Samples taken while the thread was idle. */
  idleSamples: number
  /** Profiles folded into the stats (one per rotation). */
  profiles: number
  /** Samples whose data was dropped for want of memory. */
  droppedSamples: number
  /** Samples taken in the profiler's own code (not in {@link ThreadStat.samples}). */
  profilerSamples: number
  /** Seconds since the end of the thread's last folded profile, when read: how old its data is. */
  age: number
  /**
   * The longest wall time one sample stood for, in seconds. Near the sampling interval on a
   * quiet machine; where the sampler was held up (a busy machine), time on either side of a
   * change of function is misplaced by up to this much.
   */
  maxSampleGap: number
}
