import { isMainThread, threadId } from 'node:worker_threads'

import { ThreadProfiler } from './controller'
import { Driver } from './driver'
import { YappiError, describe } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { measured } from './overhead'
import { resolveOptions, type ResolvedOptions, type StartOptions } from './options'
import { callMainAsync, callMainSync, type RemoteAnswer, type RemoteOp } from './remote'
import {
  decodeFuncStats,
  decodeTagStats,
  decodeThreadStats,
  resolveFilter,
  resolveThreads,
  type FuncFilter,
  type FuncPredicate,
  type FuncStats,
  type TagStat,
  type ThreadStats,
} from './stats'
import { absorbFile, type StatsSource } from './saved'

/**
 * What this thread runs: the all-threads driver (main thread only), or a profiler of this
 * thread alone (`threads: false`). The engine knows which thread owns the running profiler.
 */
let local: Driver | ThreadProfiler | undefined
/** The last driver, kept after stop() until its workers' last profiles are folded. */
let lastDriver: Driver | undefined

/** Native errors are argument or state errors of ours: give them the public error type. */
function asYappiError(error: unknown): Error {
  return error instanceof Error && !(error instanceof YappiError) ? new YappiError(error.message) : (error as Error)
}

function startHere(options: ResolvedOptions): void {
  if (local) throw new YappiError('the profiler is already running; call stop() first')
  try {
    native.begin(options.clock, options.maxMemoryBytes, threadId, options.threads, options.counts === 'exact')
  } catch (error) {
    throw asYappiError(error)
  }
  native.overheadReset()
  try {
    local = options.threads ? new Driver(options) : new ThreadProfiler(options, 'global')
    lastDriver = local instanceof Driver ? local : undefined
  } catch (error) {
    native.end()
    throw new YappiError(`could not start sampling: ${(error as Error).message}`)
  }
}

function stopHere(): boolean {
  const profiler = local
  if (!profiler) return false
  local = undefined
  try {
    profiler.stop()
  } catch (error) {
    recordFault('stop', error)
  } finally {
    native.end()
    native.overheadEnd(undefined)
  }
  return true
}

/**
 * Starts profiling: every thread of the process (main and all workers, also those started
 * later) or, with `threads: false`, the calling thread. Callable from any thread.
 * @throws {@link YappiError} if a profiler is already running or an option is wrong.
 */
export function start(options?: StartOptions): void {
  const resolved = resolveOptions(options)
  if (resolved.threads && !isMainThread) {
    callMainSync('start', options ?? {})
    return
  }
  startHere(resolved)
}

/**
 * Stops profiling, from any thread. Workers' last profiles arrive a moment later: `await
 * snapshot()` after `stop()` waits for them. Returns `false` (and does nothing) when not running.
 */
export function stop(): boolean {
  if (local) return stopHere()
  const owner = native.owner()
  if (!owner) return false
  if (owner.allThreads && !isMainThread) return callMainSync('stop') as boolean
  throw new YappiError(`the profiler was started with threads: false on thread ${owner.thread}; stop it from that thread`)
}

/** Whether a profiler is running anywhere in the process. */
export function isRunning(): boolean {
  return native.isRunning()
}

/** Forgets all stats; a running profiler goes on from zero. */
export function clearStats(): void {
  native.clearStats()
}

/** Folds what this thread itself sampled so far, so a synchronous read includes it. */
function flushHere(): void {
  try {
    if (local instanceof Driver) local.flushMain()
    else local?.flush()
  } catch (error) {
    recordFault('flush', error)
  }
}

/** Folds every profiled thread, wherever the profiler runs. */
async function rotateEverywhere(): Promise<void> {
  if (local instanceof Driver) return local.rotateAll()
  if (local) return flushHere()
  const owner = native.owner()
  if (owner?.allThreads && !isMainThread) {
    await callMainAsync('rotate')
    return
  }
  // Stopped: the last workers' profiles may still be on their way.
  await lastDriver?.stopped()
}

function readFuncStats(filter?: FuncFilter | FuncPredicate): FuncStats {
  const { threads, tag, keep } = resolveFilter(filter)
  const stats = measured('read', () => {
    const encoded = tag === undefined ? native.funcStats('global', threads) : native.tagFuncStats(threads, tag)
    return decodeFuncStats(encoded, undefined, { scope: 'global', threads })
  })
  const selects = typeof filter === 'function' || (filter !== undefined && (filter.name !== undefined || filter.module !== undefined))
  return selects ? stats.filter(keep) : stats
}

/**
 * Per-function stats folded so far (the calling thread's running profile is folded first);
 * without `filter.threadId` the threads are merged. Profiling goes on. `filter`: name/module
 * matchers, thread ids and a tag, or a predicate (one that throws is recorded in getFaults()).
 */
export function getFuncStats(filter?: FuncFilter | FuncPredicate): FuncStats {
  flushHere()
  return readFuncStats(filter)
}

/**
 * Reads stats saved in yappi-node's `json` format (see {@link FuncStats.save}), adding up
 * several files (yappi's `add`). Bad files raise a {@link YappiError} naming the file and
 * the problem.
 */
export function load(...files: string[]): FuncStats {
  if (files.length === 0) throw new YappiError('load() needs at least one file')
  let source: StatsSource | undefined
  for (const file of files) source = absorbFile(file, source)
  const loaded = source as StatsSource
  return decodeFuncStats(native.funcStats(loaded.scope, undefined), undefined, loaded)
}

/**
 * Per-tag totals (time on the session's clock, wall time, samples), largest first;
 * `filter.threadId` selects threads. Only samples taken while a tag was active count.
 */
export function getTagStats(filter?: { threadId?: number | number[] }): TagStat[] {
  if (filter !== undefined && (filter === null || typeof filter !== 'object')) {
    throw new YappiError(`filter must be an object, not ${describe(filter)}`)
  }
  const threads = resolveThreads(filter?.threadId)
  flushHere()
  return decodeTagStats(native.tagStats(threads))
}

/** Per-thread stats: wall, CPU and idle time profiled, samples. */
export function getThreadStats(): ThreadStats {
  flushHere()
  return measured('read', () => decodeThreadStats(native.threadStats('global')))
}

/**
 * Folds every profiled thread first (a worker busy in a synchronous loop answers by interrupt),
 * then returns the stats, as {@link getFuncStats} does: fresh data from all threads.
 */
export async function snapshot(filter?: FuncFilter | FuncPredicate): Promise<FuncStats> {
  await rotateEverywhere()
  return readFuncStats(filter)
}

/** Carries out a worker's request on the main thread; see `src/remote.ts`. Never throws. */
export function serveWorker(ticket: number, op: RemoteOp, payload: string): void {
  let answer: RemoteAnswer
  try {
    answer = { ok: true, value: serveSync(op, JSON.parse(payload)) }
  } catch (error) {
    answer = { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
  native.mailboxAnswer(ticket, JSON.stringify(answer))
}

function serveSync(op: RemoteOp, payload: unknown): unknown {
  if (op === 'start') return startHere(resolveOptions(payload))
  if (op === 'stop') return stopHere()
  throw new YappiError(`${op} is not a synchronous request`)
}

/** The asynchronous twin of {@link serveWorker}: resolves to the answer as JSON. Never rejects. */
export async function serveWorkerAsync(op: RemoteOp): Promise<string> {
  try {
    if (op !== 'rotate') throw new YappiError(`${op} is not an asynchronous request`)
    await rotateEverywhere()
    return JSON.stringify({ ok: true })
  } catch (error) {
    return JSON.stringify({ ok: false, error: error instanceof Error ? error.message : String(error) })
  }
}
