import type { BindingFoldOptions, BindingThread } from '../binding'
import { SelfCoverage } from './coverage'
import { recordFault } from './faults'
import { flatten } from './flatten'
import { native } from './native'
import { measured, measuredIngest } from './overhead'
import type { ResolvedOptions } from './options'
import { SelfSampler, type Rotated } from './sampler'
import { registerSourceMaps } from './sourcemaps'
import { flushTags, setProfiled } from './tags'
import { OWN_CODE_PREFIXES, thisThread } from './thread'

/** Which engine the stats go to: `start()`'s shared one, or `profile(fn)`'s private one. */
export type StatsScope = 'global' | 'profile'

/** A frame whose subtree alone is kept: how `profile(fn)` isolates `fn`. */
export interface Focus {
  name: string
  url: string
}

/** Profiles the calling thread: samples, rotates on a timer, folds each profile into the engine. */
export class ThreadProfiler {
  readonly #sampler: SelfSampler
  readonly #options: ResolvedOptions
  readonly #scope: StatsScope
  readonly #focus: Focus | undefined
  readonly #timer: NodeJS.Timeout | undefined
  readonly #thread: BindingThread
  /** Exact call counts (`counts: 'exact'`), for `start()`'s stats only. */
  readonly #coverage: SelfCoverage | undefined

  /** `rotateOnTimer: false` when a driver rotates this thread on its own timer. */
  constructor(options: ResolvedOptions, scope: StatsScope, focus?: Focus, rotateOnTimer = scope === 'global', thread = thisThread) {
    this.#options = options
    this.#scope = scope
    this.#focus = focus
    this.#thread = thread
    this.#sampler = new SelfSampler(options.intervalUs)
    // Tags belong to start()'s stats only.
    if (scope === 'global') {
      setProfiled(true)
      native.overheadBegin(thread)
    }
    if (options.counts === 'exact' && scope === 'global') {
      try {
        this.#coverage = new SelfCoverage(thread)
      } catch (error) {
        this.#sampler.abandon()
        throw error
      }
    }
    if (rotateOnTimer) {
      this.#timer = setInterval(() => this.#rotateInBackground(), options.rotateIntervalMs)
      this.#timer.unref()
    }
  }

  /** Folds everything sampled so far; sampling goes on. */
  flush(): void {
    const cpuBefore = this.#sampler.cpuAtStart
    this.#fold(this.#measured(() => this.#sampler.rotate()), cpuBefore)
    this.#coverage?.take()
  }

  /** Inspector work, charged to this thread's overhead when it serves `start()`. */
  #measured<T>(work: () => T): T {
    return this.#scope === 'global' ? measured('inspector', work) : work()
  }

  /** Folds the last profile and stops sampling; `focused: false` keeps samples outside the focus frame. */
  stop(focused = true): void {
    clearInterval(this.#timer)
    // Disabling any Profiler session ends precise coverage for the whole isolate: take the
    // last counts before the sampler's session closes.
    this.#coverage?.stop()
    const cpuBefore = this.#sampler.cpuAtStart
    let rotated: Rotated
    try {
      rotated = this.#measured(() => this.#sampler.stop())
    } catch (error) {
      this.#sampler.abandon()
      if (this.#scope === 'global') setProfiled(false)
      throw error
    }
    try {
      this.#fold(rotated, cpuBefore, focused)
    } finally {
      if (this.#scope === 'global') setProfiled(false)
    }
  }

  #rotateInBackground(): void {
    try {
      this.flush()
    } catch (error) {
      recordFault('rotate', error)
    }
  }

  #fold({ profile, cpuNs }: Rotated, cpuBefore: number, focused = true): void {
    const measured = cpuNs >= 0 && cpuBefore >= 0
    const options = foldOptions(this.#options, focused ? this.#focus : undefined, measured ? cpuNs - cpuBefore : undefined)
    registerSourceMaps(profile)
    // The switches up to the profile's end go first: the engine joins them with its samples.
    if (this.#scope === 'global') flushTags()
    const ingest = (): { foldNs: number } => native.ingestFlat(this.#scope, this.#thread, flatten(profile), options)
    if (this.#scope === 'global') measuredIngest(ingest)
    else ingest()
  }
}

/** How the engine folds a profile taken with `options`; `cpuTimeNs` is the thread's CPU time over it, when measured. */
export function foldOptions(options: ResolvedOptions, focus?: Focus, cpuTimeNs?: number): BindingFoldOptions {
  const cpuClock = options.clock === 'cpu'
  return {
    showBuiltins: options.builtins,
    ownCodePrefixes: OWN_CODE_PREFIXES,
    focusName: focus?.name,
    focusUrl: focus?.url,
    cpuClock,
    cpuTimeNs,
  }
}
