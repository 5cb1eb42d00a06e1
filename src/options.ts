import { checkExactCountsAllowed } from './sampling/coverage'
import { YappiError, describe } from './errors'
import { readPlainObject } from './input'

/** `'wall'` counts all elapsed time, waiting included; `'cpu'` counts time on the CPU only. */
export type ClockType = 'wall' | 'cpu'

/** Options of {@link start} and {@link profile}. */
export interface StartOptions {
  /** The clock times are measured on. Default `'wall'`. */
  clock?: ClockType
  /**
   * Sampling interval in microseconds, 1 to 1,000,000. Default 1000. V8's sampler adds its own
   * latency (about 90 µs on Linux), so the effective interval is longer; stats weight every
   * sample by the gap actually measured, never by this number.
   */
  intervalUs?: number
  /**
   * Show Node's internals (`node:` modules), V8 natives, `(program)` and `(garbage collector)`
   * as functions of their own. Default `false`: their time counts as self time of the
   * JavaScript function that called them.
   */
  builtins?: boolean
  /**
   * The shortest time, in milliseconds, between two rotations of a thread (its running profile
   * ended and folded into the stats). Default 1000. A rotation costs the thread V8's work of
   * serializing its profile, which grows with the call tree, not with time: each thread is
   * rotated no more often than keeps that cost under `rotationBudget`. Reading stats folds the
   * reading thread first, so this bounds memory and the age of other threads' data, not freshness.
   */
  rotateIntervalMs?: number
  /**
   * The share of a thread's time its rotations may cost it, 0.0001 to 1. Default 0.01 (1 %): a
   * rotation that took 30 ms is followed by the next one 3 s later at the soonest.
   */
  rotationBudget?: number
  /** The longest time, in milliseconds, between two rotations of a thread, whatever they cost. Default 60000: bounds V8's sample buffer. */
  maxRotateIntervalMs?: number
  /**
   * Discard optimized code when profiling starts, so code V8 optimized on the stack (OSR)
   * before is compiled again under the profiler and named. Default `true`. V8 ≥ 12 (Node 22+)
   * does not name such code in later profiles: a loop already hot at `start()` (or hot under an
   * earlier session) is otherwise charged to its caller until it is left. The price is the
   * application re-warming its hot code once per `start()` (see README, "Limits that come from
   * V8"). Skipped where another tool's precise coverage runs (`NODE_V8_COVERAGE`).
   */
  deoptimize?: boolean
  /**
   * At `stop()`, leave V8's profiler running at one sample a second (one sample kept) until
   * the next `start()`, where Node allows it (`v8.startCpuProfile()` with options: Node 26, not Node 24.22).
   * Default `true`. The next `start()` then costs a few milliseconds instead of V8 logging every
   * function again (a few hundred on a large application), and needs no `deoptimize`: V8 went
   * on logging code meanwhile. The price between runs is V8 noting each code object it makes
   * (see README, "Limits that come from V8"). `false` stops V8's profiler with each run.
   */
  keepV8Profiler?: boolean
  /** Memory the stats may use, in bytes. Default 256 MiB. Past it, new data is dropped and counted. */
  maxMemoryBytes?: number
  /**
   * Profile every thread: the main thread and every worker, those running now and those
   * started later (nested ones too), from their first line. Default `true`. `false` profiles
   * only the thread that calls `start()`.
   */
  threads?: boolean
  /**
   * `'estimated'` (default): call counts are estimated from samples, at no extra cost.
   * `'exact'`: every call is counted, through V8's precise coverage on every profiled thread.
   * V8 then runs JavaScript without its optimizing compilers, so call-heavy code runs several
   * times slower (see README, "Exact call counts"). Refused when `NODE_V8_COVERAGE` is set.
   */
  counts?: CountsMode
  /**
   * A stall is a stretch in which a thread's event loop did not turn for at least this many
   * milliseconds (main and every worker); see {@link getStalls}. Default 100; 0 records none.
   */
  stallThresholdMs?: number
  /** How many stalls are kept, the newest; older ones are dropped and counted. Default 100. */
  maxStalls?: number
}

/** How call counts are obtained: estimated from samples, or counted exactly (see {@link StartOptions.counts}). */
export type CountsMode = 'estimated' | 'exact'

export interface ResolvedOptions {
  clock: ClockType
  intervalUs: number
  builtins: boolean
  rotateIntervalMs: number
  rotationBudget: number
  maxRotateIntervalMs: number
  deoptimize: boolean
  keepV8Profiler: boolean
  maxMemoryBytes: number
  threads: boolean
  counts: CountsMode
  stallThresholdMs: number
  maxStalls: number
}

export const DEFAULTS: ResolvedOptions = {
  clock: 'wall',
  intervalUs: 1000,
  builtins: false,
  rotateIntervalMs: 1000,
  rotationBudget: 0.01,
  maxRotateIntervalMs: 60_000,
  deoptimize: true,
  keepV8Profiler: true,
  maxMemoryBytes: 256 * 1024 * 1024,
  threads: true,
  counts: 'estimated',
  stallThresholdMs: 100,
  maxStalls: 100,
}

const CLOCKS: readonly ClockType[] = ['wall', 'cpu']

function wholeNumber(name: string, value: unknown, min: number, max: number, unit: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new YappiError(`${name} must be a whole number of ${unit} from ${min} to ${max}, not ${describe(value)}`)
  }
  return value
}

function flag(name: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new YappiError(`${name} must be true or false, not ${describe(value)}`)
  return value
}

/** Checks every option, naming the first that is wrong; unknown keys are errors (typos). */
export function resolveOptions(options: unknown, allowed: readonly string[] = Object.keys(DEFAULTS)): ResolvedOptions {
  if (options === undefined) return { ...DEFAULTS }
  const given = readPlainObject(options, { name: 'options', key: 'option', allowed })
  const resolved = { ...DEFAULTS }
  if (given.clock !== undefined) {
    if (!CLOCKS.includes(given.clock as ClockType)) {
      throw new YappiError(`clock must be 'wall' or 'cpu', not ${describe(given.clock)}`)
    }
    resolved.clock = given.clock as ClockType
  }
  if (given.intervalUs !== undefined) resolved.intervalUs = wholeNumber('intervalUs', given.intervalUs, 1, 1_000_000, 'microseconds')
  if (given.builtins !== undefined) resolved.builtins = flag('builtins', given.builtins)
  if (given.threads !== undefined) resolved.threads = flag('threads', given.threads)
  if (given.rotateIntervalMs !== undefined) {
    resolved.rotateIntervalMs = wholeNumber('rotateIntervalMs', given.rotateIntervalMs, 10, 3_600_000, 'milliseconds')
  }
  if (given.rotationBudget !== undefined) {
    const budget = given.rotationBudget
    if (typeof budget !== 'number' || !(budget >= 0.0001 && budget <= 1)) {
      throw new YappiError(`rotationBudget must be a share of the thread's time from 0.0001 to 1, not ${describe(budget)}`)
    }
    resolved.rotationBudget = budget
  }
  if (given.maxRotateIntervalMs !== undefined) {
    resolved.maxRotateIntervalMs = wholeNumber('maxRotateIntervalMs', given.maxRotateIntervalMs, 10, 3_600_000, 'milliseconds')
  }
  if (resolved.maxRotateIntervalMs < resolved.rotateIntervalMs) {
    throw new YappiError(`maxRotateIntervalMs (${resolved.maxRotateIntervalMs}) must not be below rotateIntervalMs (${resolved.rotateIntervalMs})`)
  }
  if (given.deoptimize !== undefined) resolved.deoptimize = flag('deoptimize', given.deoptimize)
  if (given.keepV8Profiler !== undefined) resolved.keepV8Profiler = flag('keepV8Profiler', given.keepV8Profiler)
  if (given.maxMemoryBytes !== undefined) {
    resolved.maxMemoryBytes = wholeNumber('maxMemoryBytes', given.maxMemoryBytes, 64 * 1024, Number.MAX_SAFE_INTEGER, 'bytes')
  }
  if (given.counts !== undefined) {
    if (given.counts !== 'estimated' && given.counts !== 'exact') {
      throw new YappiError(`counts must be 'estimated' or 'exact', not ${describe(given.counts)}`)
    }
    if (given.counts === 'exact') checkExactCountsAllowed()
    resolved.counts = given.counts
  }
  if (given.stallThresholdMs !== undefined) {
    resolved.stallThresholdMs = wholeNumber('stallThresholdMs', given.stallThresholdMs, 0, 3_600_000, 'milliseconds')
  }
  if (given.maxStalls !== undefined) resolved.maxStalls = wholeNumber('maxStalls', given.maxStalls, 0, 100_000, 'stalls')
  return resolved
}
