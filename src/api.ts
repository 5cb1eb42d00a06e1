import { YappiError, describe } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { measured } from './overhead'
import { resolveOptions, type StartOptions } from './options'
import { refreshEverywhere, refreshThisThread, startEverywhere, stopEverywhere } from './sampling/local'
import type { BindingEncoded } from '../binding'
import { requestEncodedStats, spawnProfilerThread } from './sampling/control'
import type { RemoteAnswer, RemoteOp } from './sampling/remote'
import {
  decodeFuncStats,
  decodeTagStats,
  decodeThreadStats,
  resolveFilter,
  resolveTagFilter,
  resolveThreadStatsOptions,
  type FuncFilter,
  type FuncPredicate,
  type FuncStats,
  type ResolvedFilter,
  type TagStat,
  type ThreadStats,
  type ThreadStatsOptions,
} from './stats'
import { absorbFile, type StatsSource } from './saved'

/**
 * Starts profiling: every thread of the process (main and all workers, also those started
 * later) or, with `threads: false`, the calling thread. Callable from any thread. The
 * profiler's work runs on a thread of its own; the calling thread's profile runs when this
 * returns.
 * @throws {@link YappiError} if a profiler is already running or an option is wrong.
 */
export function start(options?: StartOptions): void {
  const resolved = resolveOptions(options)
  measured('control', () => startEverywhere(resolved))
}

/**
 * `start()` for a tool that profiles the application (the command line): the run is the
 * tool's, and the application's own `start()` and `stop()` meanwhile join it and leave it running.
 */
export function startAsTool(options?: StartOptions): void {
  const resolved = resolveOptions(options)
  measured('control', () => startEverywhere(resolved, 'tool'))
}

/** `stop()` of a tool's run (see {@link startAsTool}). */
export function stopAsTool(): boolean {
  if (!native.isRunning()) return false
  return measured('control', () => stopEverywhere('tool'))
}

/**
 * Stops profiling, from any thread. The calling thread's last profile is folded when this
 * returns; other threads' last profiles a moment later: `await snapshot()` after `stop()`
 * waits for them. Returns `false` (and does nothing) when not running.
 */
export function stop(): boolean {
  if (!native.isRunning()) return false
  return measured('control', () => stopEverywhere())
}

/** Whether a profiler is running anywhere in the process. */
export function isRunning(): boolean {
  return native.isRunning()
}

/** Forgets all stats and stalls; a running profiler goes on from zero. */
export function clearStats(): void {
  native.clearStats()
}

/**
 * Folds what this thread sampled so far, so that a synchronous read includes it. Its cost is
 * accounted inside: the thread ending its profile as `rotation`, waiting for the fold as `read`.
 */
export function refreshHere(maxAgeMs = 0): void {
  try {
    if (!refreshThisThread(maxAgeMs)) recordFault('read', new YappiError('this thread\'s last profile was not folded in time: the stats read are older'))
  } catch (error) {
    recordFault('read', error)
  }
}

/** How long `snapshot()` waits for the profiler thread to encode the stats before it does. */
const ENCODE_DEADLINE_MS = 5000

/** `encoded`: the stats as the profiler thread encoded them; without, this thread encodes them. */
function readFuncStats({ threads, tag, keep }: ResolvedFilter, encoded?: BindingEncoded): FuncStats {
  const stats = measured('read', () => {
    encoded ??= native.funcStats('global', threads, tag)
    return decodeFuncStats(encoded, undefined, { scope: 'global', threads })
  })
  return keep ? stats.filter(keep) : stats
}

/**
 * The stats `resolved` selects, merged and encoded on the profiler thread while this one goes
 * on with its event loop (it only decodes them); encoded here when the profiler thread cannot.
 */
async function readFuncStatsAway(resolved: ResolvedFilter, what: string): Promise<FuncStats> {
  const encoded =
    native.profilerThread() === null
      ? undefined
      : await requestEncodedStats(resolved.threads, resolved.tag, ENCODE_DEADLINE_MS).catch((error: unknown) => {
          recordFault(what, error)
          return undefined
        })
  return readFuncStats(resolved, encoded)
}

/**
 * {@link getFuncStats} for a caller that can wait (the HTTP endpoint): the same read, fresh
 * for the calling thread, with the merge and encoding off it.
 */
export function getFuncStatsAway(filter?: FuncFilter | FuncPredicate): Promise<FuncStats> {
  const resolved = resolveFilter(filter)
  refreshHere(resolved.maxAgeMs)
  return readFuncStatsAway(resolved, 'read')
}

/**
 * Per-function stats folded so far (the calling thread's running profile is folded first);
 * without `filter.threadId` the threads are merged. Profiling goes on. `filter`: name/module
 * matchers, thread ids and a tag, or a predicate (one that throws is recorded in getFaults()).
 */
export function getFuncStats(filter?: FuncFilter | FuncPredicate): FuncStats {
  const resolved = resolveFilter(filter)
  refreshHere(resolved.maxAgeMs)
  return readFuncStats(resolved)
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
  const threads = resolveTagFilter(filter)
  refreshHere()
  return measured('read', () => decodeTagStats(native.tagStats(threads)))
}

/** Per-thread stats: wall, CPU and idle time profiled, samples, and how old each thread's data is. */
export function getThreadStats(options?: ThreadStatsOptions): ThreadStats {
  refreshHere(resolveThreadStatsOptions(options))
  return measured('read', () => decodeThreadStats(native.threadStats('global')))
}

/**
 * Folds every profiled thread first (a worker busy in a synchronous loop answers by interrupt),
 * then returns the stats, as {@link getFuncStats} does: fresh data from all threads. The stats
 * are merged and encoded on the profiler thread; the calling thread only decodes them.
 */
export async function snapshot(filter?: FuncFilter | FuncPredicate): Promise<FuncStats> {
  const resolved = resolveFilter(filter)
  const late = await refreshEverywhere(resolved.maxAgeMs).catch((error: unknown) => {
    recordFault('snapshot', error)
    return []
  })
  if (late.length > 0) recordFault('snapshot', new YappiError(`threads ${late.join(', ')} did not answer in time: their stats are older (see getThreadStats() ages)`))
  return readFuncStatsAway(resolved, 'snapshot')
}

/** Carries out a worker's request on the main thread; see `src/sampling/remote.ts`. Never throws. */
export function serveWorker(ticket: number, op: RemoteOp): void {
  let answer: RemoteAnswer
  try {
    if (op !== 'spawn') throw new YappiError(`${describe(op)} is not a request the main thread serves`)
    spawnProfilerThread()
    answer = { ok: true }
  } catch (error) {
    answer = { ok: false, error: error instanceof Error ? error.message : String(error) }
  }
  native.mailboxAnswer(ticket, JSON.stringify(answer))
}
