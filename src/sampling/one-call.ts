import { Session, type Profiler } from 'node:inspector'
import * as v8 from 'node:v8'

import type { BindingFoldOptions, BindingIngestOutcome } from '../../binding'
import { YappiError } from '../errors'
import { recordFault } from '../faults'
import { flatten } from '../flatten'
import { native } from '../native'
import type { ResolvedOptions } from '../options'
import { OWN_CODE_PREFIXES, thisThread } from '../thread'
import { foreignCoverage } from './coverage'

/**
 * Samples the calling thread around one call, for `profile(fn)`: apart from `start()`'s
 * profiler, into the engine's `profile` scope, and folded right here, since the caller waits
 * for the result. `v8.startCpuProfile()` where Node has it (≥ 24.12), else an inspector
 * session connected to this thread (its answers come synchronously).
 */

interface StartCpuProfile {
  /** `sampleInterval`: whole milliseconds (see `chooseMode` in target.ts). */
  (options?: { sampleInterval?: number }): { stop(): string | undefined }
}
const startCpuProfile = (v8 as unknown as { startCpuProfile?: StartCpuProfile }).startCpuProfile

/** The frame `fn` runs under: its subtree alone is kept. */
export interface Focus {
  name: string
  url: string
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

/** Entering and leaving precise coverage makes V8 drop every function's optimized code. */
function discardOptimizedCode(): void {
  const session = new Session()
  session.connect()
  try {
    post(session, 'Profiler.enable')
    post(session, 'Profiler.startPreciseCoverage', { callCount: true, detailed: false })
    post(session, 'Profiler.stopPreciseCoverage')
  } finally {
    session.disconnect()
  }
}

/** Whether this thread can be sampled for one call without ending the precise coverage of exact counts. */
export function canSampleOneCallBesideCoverage(): boolean {
  return startCpuProfile !== undefined
}

export class CallSampler {
  readonly #handle: { stop(): string | undefined } | undefined
  readonly #session: Session | undefined
  readonly #cpuAtStart = native.threadCpuTimeNs()

  /**
   * `deoptimize` discards optimized code first, as `start()` does (see `StartOptions.deoptimize`):
   * `fn`'s hot loops are compiled again under this profile, and named.
   */
  constructor(intervalUs: number, deoptimize: boolean) {
    if (deoptimize && !foreignCoverage()) discardOptimizedCode()
    if (startCpuProfile && (intervalUs === 1000 || (startCpuProfile.length > 0 && intervalUs % 1000 === 0))) {
      this.#handle = startCpuProfile.length > 0 ? startCpuProfile({ sampleInterval: intervalUs / 1000 }) : startCpuProfile()
      return
    }
    const session = new Session()
    session.connect()
    try {
      post(session, 'Profiler.enable')
      post(session, 'Profiler.setSamplingInterval', { interval: intervalUs })
      post(session, 'Profiler.start')
    } catch (error) {
      session.disconnect()
      throw error
    }
    this.#session = session
  }

  /** Ends the profile and folds it into the `profile` scope, keeping the subtree of `focus` if given. */
  stopAndFold(options: ResolvedOptions, focus: Focus | undefined): void {
    const cpuNow = native.threadCpuTimeNs()
    const fold: BindingFoldOptions = {
      cpuTimeNs: cpuNow !== null && this.#cpuAtStart !== null ? cpuNow - this.#cpuAtStart : undefined,
      showBuiltins: options.builtins,
      ownCodePrefixes: OWN_CODE_PREFIXES,
      focusName: focus?.name,
      focusUrl: focus?.url,
      cpuClock: options.clock === 'cpu',
    }
    for (const problem of this.#ingest(fold).sourceMapProblems) recordFault('sourcemap', new Error(problem))
  }

  #ingest(fold: BindingFoldOptions): BindingIngestOutcome {
    if (this.#handle) {
      const json = this.#handle.stop()
      if (json === undefined) throw new YappiError('the profile of this call was already stopped')
      return native.ingestSerializedProfile('profile', thisThread, null, json, fold)
    }
    const session = this.#session as Session
    try {
      const { profile } = post<Profiler.StopReturnType>(session, 'Profiler.stop')
      return native.ingestFlat('profile', thisThread, flatten(profile), fold)
    } finally {
      session.disconnect()
    }
  }

  /** Ends the profile without reading it (after a failure). */
  abandon(): void {
    try {
      this.#handle?.stop()
      this.#session?.disconnect()
    } catch {
      // Already ended: nothing to release.
    }
  }
}
