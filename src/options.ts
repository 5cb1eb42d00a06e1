import { checkExactCountsAllowed } from './coverage'
import { YappiError, describe } from './errors'

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
   * How often, in milliseconds, the running profile is folded into the stats (and V8's sample
   * buffer emptied). Default 1000. Reading stats always folds first, so this bounds memory,
   * not freshness.
   */
  rotateIntervalMs?: number
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
}

/** How call counts are obtained: estimated from samples, or counted exactly (see {@link StartOptions.counts}). */
export type CountsMode = 'estimated' | 'exact'

export interface ResolvedOptions {
  clock: ClockType
  intervalUs: number
  builtins: boolean
  rotateIntervalMs: number
  maxMemoryBytes: number
  threads: boolean
  counts: CountsMode
}

export const DEFAULTS: ResolvedOptions = {
  clock: 'wall',
  intervalUs: 1000,
  builtins: false,
  rotateIntervalMs: 1000,
  maxMemoryBytes: 256 * 1024 * 1024,
  threads: true,
  counts: 'estimated',
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
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new YappiError(`options must be an object, not ${describe(options)}`)
  }
  const given = options as Record<string, unknown>
  const unknown = Object.keys(given).filter((key) => !allowed.includes(key))
  if (unknown.length > 0) {
    throw new YappiError(`unknown option ${describe(unknown[0])}; known options: ${allowed.join(', ')}`)
  }
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
  return resolved
}
