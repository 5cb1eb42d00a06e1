import { Session, type Profiler } from 'node:inspector'

import { YappiError } from './errors'
import { native } from './native'

/**
 * A console profile with this title brackets every rotation: while it is open, V8 keeps its
 * CpuProfiler alive, so stopping and restarting ours costs a fraction of a millisecond instead
 * of re-logging every compiled function (hundreds of ms in a large app).
 */
export const KEEP_ALIVE_TITLE = 'yappi-node keep-alive'
// Captured at load so that an application replacing console methods cannot break rotation.
const consoleProfile = console.profile.bind(console)
const consoleProfileEnd = console.profileEnd.bind(console)

/** A profile and the thread CPU time (ns) read at its end, or -1 when unavailable. */
export interface Rotated {
  profile: Profiler.Profile
  cpuNs: number
}

function post<T>(session: Session, method: string, params?: object): T {
  let answered = false
  let failure: Error | null = null
  let result: unknown
  session.post(method, params ?? {}, (error, value) => {
    answered = true
    failure = error
    result = value
  })
  if (!answered) throw new YappiError(`inspector ${method} did not answer synchronously`)
  if (failure) throw failure
  return result as T
}

/** Samples the calling thread through an inspector session connected to itself. */
export class SelfSampler {
  readonly #session = new Session()
  #cpuAtStart: number

  constructor(intervalUs: number) {
    this.#session.connect()
    try {
      post(this.#session, 'Profiler.enable')
      post(this.#session, 'Profiler.setSamplingInterval', { interval: intervalUs })
      this.#cpuAtStart = native.threadCpuTimeNs()
      post(this.#session, 'Profiler.start')
    } catch (error) {
      this.#session.disconnect()
      throw error
    }
  }

  /** Thread CPU time (ns) when the current profile started. */
  get cpuAtStart(): number {
    return this.#cpuAtStart
  }

  /**
   * Ends the current profile and starts the next one at once. The next one is started even when
   * ending this one failed (the inspector errs when no profile was running), so one failed
   * rotation loses one profile, not all that follow.
   */
  rotate(): Rotated {
    consoleProfile(KEEP_ALIVE_TITLE)
    try {
      let stopped: Profiler.StopReturnType | undefined
      let failure: unknown
      try {
        stopped = post<Profiler.StopReturnType>(this.#session, 'Profiler.stop')
      } catch (error) {
        failure = error
      }
      const cpuNs = native.threadCpuTimeNs()
      this.#cpuAtStart = cpuNs
      post(this.#session, 'Profiler.start')
      if (!stopped) throw failure
      return { profile: stopped.profile, cpuNs }
    } finally {
      consoleProfileEnd(KEEP_ALIVE_TITLE)
    }
  }

  /** Ends the last profile and closes the session. */
  stop(): Rotated {
    try {
      const { profile } = post<Profiler.StopReturnType>(this.#session, 'Profiler.stop')
      const cpuNs = native.threadCpuTimeNs()
      post(this.#session, 'Profiler.disable')
      return { profile, cpuNs }
    } finally {
      this.#session.disconnect()
    }
  }

  /** Closes the session without reading the profile (after a failure). */
  abandon(): void {
    try {
      this.#session.disconnect()
    } catch {
      // Already closed: nothing to release.
    }
  }
}
