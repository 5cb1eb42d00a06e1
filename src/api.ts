import { ThreadProfiler } from './controller'
import { YappiError } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { resolveOptions, type StartOptions } from './options'
import { decodeFuncStats, decodeThreadStats, resolveFilter, type FuncFilter, type FuncStats, type ThreadStats } from './stats'

let active: ThreadProfiler | undefined

/** Native errors are argument or state errors of ours: give them the public error type. */
function asYappiError(error: unknown): Error {
  return error instanceof Error && !(error instanceof YappiError) ? new YappiError(error.message) : (error as Error)
}

export function start(options?: StartOptions): void {
  const resolved = resolveOptions(options)
  if (active) throw new YappiError('the profiler is already running; call stop() first')
  try {
    native.begin(resolved.clock, resolved.maxMemoryBytes)
  } catch (error) {
    throw asYappiError(error)
  }
  try {
    active = new ThreadProfiler(resolved, 'global')
  } catch (error) {
    native.end()
    throw new YappiError(`could not start sampling: ${(error as Error).message}`)
  }
}

export function stop(): boolean {
  const profiler = active
  if (!profiler) return false
  active = undefined
  try {
    profiler.stop()
  } catch (error) {
    recordFault('stop', error)
  } finally {
    native.end()
  }
  return true
}

export function isRunning(): boolean {
  return native.isRunning()
}

export function clearStats(): void {
  native.clearStats()
}

/** Folds what the running profiler sampled so far, so reads include it. */
function flushActive(): void {
  try {
    active?.flush()
  } catch (error) {
    recordFault('flush', error)
  }
}

export function getFuncStats(filter?: FuncFilter): FuncStats {
  const { threads, keep } = resolveFilter(filter)
  flushActive()
  const stats = decodeFuncStats(native.funcStats('global', threads))
  return filter && (filter.name !== undefined || filter.module !== undefined) ? stats.filter(keep) : stats
}

export function getThreadStats(): ThreadStats {
  flushActive()
  return decodeThreadStats(native.threadStats('global'))
}
