import { isMainThread, threadId } from 'node:worker_threads'

import { ThreadProfiler } from './controller'
import { Driver } from './driver'
import { YappiError } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { resolveOptions, type ResolvedOptions, type StartOptions } from './options'
import { callMainAsync, callMainSync, type RemoteAnswer, type RemoteOp } from './remote'
import { decodeFuncStats, decodeThreadStats, resolveFilter, type FuncFilter, type FuncPredicate, type FuncStats, type ThreadStats } from './stats'

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
  }
  return true
}

export function start(options?: StartOptions): void {
  const resolved = resolveOptions(options)
  if (resolved.threads && !isMainThread) {
    callMainSync('start', options ?? {})
    return
  }
  startHere(resolved)
}

export function stop(): boolean {
  if (local) return stopHere()
  const owner = native.owner()
  if (!owner) return false
  if (owner.allThreads && !isMainThread) return callMainSync('stop') as boolean
  throw new YappiError(`the profiler was started with threads: false on thread ${owner.thread}; stop it from that thread`)
}

export function isRunning(): boolean {
  return native.isRunning()
}

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
  const { threads, keep } = resolveFilter(filter)
  const stats = decodeFuncStats(native.funcStats('global', threads))
  const selects = typeof filter === 'function' || (filter !== undefined && (filter.name !== undefined || filter.module !== undefined))
  return selects ? stats.filter(keep) : stats
}

/** `filter`: name/module matchers and thread ids, or a predicate (one that throws is recorded in getFaults()). */
export function getFuncStats(filter?: FuncFilter | FuncPredicate): FuncStats {
  flushHere()
  return readFuncStats(filter)
}

export function getThreadStats(): ThreadStats {
  flushHere()
  return decodeThreadStats(native.threadStats('global'))
}

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
