import { isMainThread, threadId } from 'node:worker_threads'

import { YappiError } from '../errors'

import { native } from '../native'
import type { ResolvedOptions } from '../options'
import { measured, recordCost } from '../overhead'
import { AGENT_KEY, type Agent } from './agent'
import { ensureProfilerThread, requestAsync, requestSync, shareWakeCell, spawnProfilerThread, type Requester } from './control'
import { waitInSlices } from './wait'

/**
 * What the application's thread does itself when it calls the API: it asks the profiler thread
 * to start or stop, and for a fresh read it ends its own profile in place (V8's cost of
 * producing it, which no transport avoids) and waits for the profiler thread to fold it.
 */

/** How long a read waits for its own profile to be folded before it reads what there is. */
const FRESH_READ_DEADLINE_MS = 2000
/** How long `snapshot()` waits for the other threads. */
export const SNAPSHOT_DEADLINE_MS = 1000
const START_DEADLINE_MS = 15_000
const STOP_DEADLINE_MS = 5000

/** This thread's agent if the profiler installed one (it never is installed just to look). */
function existingAgent(): Agent | undefined {
  return (globalThis as unknown as Record<symbol, Agent | undefined>)[Symbol.for(AGENT_KEY)]
}

/** Waits in slices for profile `seq` of this thread to be folded; whether it was in time. */
function awaitFold(seq: number, deadlineMs: number): boolean {
  return measured('read', () => waitInSlices(() => (native.foldWait(threadId, seq, 0) ? true : null), deadlineMs) ?? false)
}

export function startEverywhere(options: ResolvedOptions, by: Requester = 'application'): void {
  ensureProfilerThread()
  requestSync({ op: 'start', options, by }, START_DEADLINE_MS)
}

/**
 * Stops the profiler; the profiler thread ends this thread's profile too (by evaluation in it,
 * which the slices of the wait let in), and answers once that profile is folded.
 */
export function stopEverywhere(by: Requester = 'application'): boolean {
  if (native.profilerThread() === null) return false
  return requestSync({ op: 'stop', by }, STOP_DEADLINE_MS) as boolean
}

/**
 * Folds what this thread sampled up to now (or accepts data up to `maxAgeMs` old). Returns
 * false when the fold did not come in time: the read then shows older data.
 */
export function refreshThisThread(maxAgeMs: number): boolean {
  const agent = existingAgent()
  // No profiler thread (any more: the process is exiting): nothing would fold a new profile.
  if (!agent?.running || native.profilerThread() === null) return true
  // Before the rotation, so that the fold of its profile can end the wait at once.
  shareWakeCell()
  if (maxAgeMs > 0 && agent.now() - agent.lastEndedAt <= maxAgeMs) return awaitFold(agent.lastEnded, FRESH_READ_DEADLINE_MS)
  if (agent.mode === 'protocol' || agent.exact) {
    // Only the profiler thread can end this profile (or take its coverage): wait for it in slices.
    const late = measured('read', () => requestSync({ op: 'rotate', threads: [threadId], deadlineMs: FRESH_READ_DEADLINE_MS, maxAgeMs: 0 }, FRESH_READ_DEADLINE_MS + 500)) as number[]
    return late.length === 0
  }
  const ended = agent.rotate()
  if (!Array.isArray(ended)) return awaitFold(ended.waitFor, FRESH_READ_DEADLINE_MS)
  recordCost('rotation', ended[3] * 1e6)
  return awaitFold(ended[0], FRESH_READ_DEADLINE_MS)
}

/**
 * Has every profiled thread folded what it sampled (threads whose data is at most `maxAgeMs`
 * old are left alone); resolves to the threads that did not answer in time.
 */
export async function refreshEverywhere(maxAgeMs = 0): Promise<number[]> {
  if (native.profilerThread() === null) return []
  if (!native.isRunning()) {
    // Stopped: the last profiles of the last run may still be on their way.
    await requestAsync({ op: 'settle', deadlineMs: SNAPSHOT_DEADLINE_MS }, SNAPSHOT_DEADLINE_MS + 500)
    return []
  }
  return (await requestAsync({ op: 'rotate', threads: null, deadlineMs: SNAPSHOT_DEADLINE_MS, maxAgeMs }, SNAPSHOT_DEADLINE_MS + 500)) as number[]
}

/**
 * `start()` for code that the inspector runs in this thread (an attaching client's
 * `Runtime.evaluate`, with `awaitPromise`): it must not wait for this thread to answer the
 * profiler thread, which the inspector cannot dispatch until that evaluation returns. Resolves
 * once profiling runs; this thread's own profile begins by interrupt, as soon as it runs.
 */
export async function startWithoutWaiting(options: ResolvedOptions, by: Requester = 'tool'): Promise<void> {
  if (native.profilerThread() === null) {
    if (!isMainThread) throw new YappiError('startWithoutWaiting() is for the main thread')
    spawnProfilerThread()
    const until = Date.now() + START_DEADLINE_MS
    while (native.profilerThread() === null) {
      if (Date.now() > until) throw new YappiError(`the profiler thread did not start within ${START_DEADLINE_MS} ms`)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
  }
  await requestAsync({ op: 'start', options, by }, START_DEADLINE_MS)
}

/** `stop()` for code the inspector runs in this thread (see {@link startWithoutWaiting}). */
export async function stopWithoutWaiting(by: Requester = 'tool'): Promise<boolean> {
  if (native.profilerThread() === null || !native.isRunning()) return false
  return (await requestAsync({ op: 'stop', by }, STOP_DEADLINE_MS)) as boolean
}
