import { setTimeout as sleep } from 'node:timers/promises'

import { isRunning } from '../api'
import { recordFault } from '../faults'
import { native } from '../native'
import { refreshEverywhere } from '../sampling/local'
import { absorb } from '../saved'
import { decodeFuncStats, decodeThreadStats } from '../stats'
import { HttpError } from './reply'

/** Windows open at once, each holding the stats tables of its start (see `window.rs`). */
export const MAX_OPEN_WINDOWS = 8

/** Folds every thread so a mark or a difference sees all that was sampled until now. */
async function foldEverywhere(): Promise<void> {
  try {
    await refreshEverywhere()
  } catch (error) {
    // The window then ends at the last rotation that did succeed; it is still a true window.
    recordFault('http profile window', error)
  }
}

/**
 * Windows of time over the continuous stats: what every profiled thread sampled during the
 * next N seconds, as Go's `/debug/pprof/profile?seconds=N` returns it. Each window marks the
 * engine's stats at its start and exports the difference at its end; the stats themselves are
 * only read, so windows overlap freely and `getFuncStats()` sees no change.
 */
export class ProfileWindows {
  readonly #open = new Set<AbortController>()

  /** The window's stats in `format` (`pprof`, or `json` for {@link windowTable}). Rejects with an HttpError, or an AbortError when `signal` (the client going away) or {@link closeAll} ends it. */
  async record(seconds: number, format: 'pprof' | 'json', signal: AbortSignal): Promise<Buffer> {
    if (!isRunning()) {
      throw new HttpError(503, 'the profiler is not running: the application calls yappi.start(), or POST start with the token', { 'retry-after': '15' })
    }
    if (this.#open.size >= MAX_OPEN_WINDOWS) {
      throw new HttpError(429, `${MAX_OPEN_WINDOWS} profile windows are open already; try again when one ends`, { 'retry-after': String(seconds) })
    }
    const ended = new AbortController()
    const onClientGone = () => ended.abort(signal.reason)
    signal.addEventListener('abort', onClientGone, { once: true })
    this.#open.add(ended)
    let mark: InstanceType<typeof native.BindingStatsMark> | undefined
    try {
      await foldEverywhere()
      ended.signal.throwIfAborted()
      mark = native.BindingStatsMark.now()
      // Unreferenced: a window in progress must not keep the application's process alive.
      await sleep(seconds * 1000, undefined, { signal: ended.signal, ref: false })
      await foldEverywhere()
      return mark.exportSince(format)
    } finally {
      mark?.release()
      this.#open.delete(ended)
      signal.removeEventListener('abort', onClientGone)
    }
  }

  /** Ends every open window (the server closes). */
  closeAll(): void {
    for (const window of this.#open) window.abort(new Error('the server closed'))
  }
}

/** A window's stats (its `json` export) as yappi's printed tables: functions by self time, then threads. */
export function windowTable(json: Buffer, seconds: number): string {
  const source = absorb(json, 'the profile window')
  const stats = decodeFuncStats(native.funcStats(source.scope, undefined), undefined, source).sort('tsub')
  const threads = decodeThreadStats(native.threadStats(source.scope))
  return `What every profiled thread sampled in the last ${seconds} s\n\n${stats.format()}\n${threads.format()}`
}
