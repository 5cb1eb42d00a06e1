import { pathToFileURL } from 'node:url'

import { YappiError, describe } from './errors'
import { AGENT_KEY, type Agent } from './sampling/agent'
import { CallSampler, canSampleOneCallBesideCoverage } from './sampling/one-call'
import { native } from './native'
import { resolveOptions, type ResolvedOptions, type StartOptions } from './options'
import { decodeFuncStats, type FuncStats } from './stats'
import { thisThread } from './thread'

/** Options of {@link profile}: the sampling options of {@link start}. */
export type ProfileOptions = Pick<StartOptions, 'clock' | 'intervalUs' | 'builtins' | 'deoptimize'>

const PROFILE_OPTIONS = ['clock', 'intervalUs', 'builtins', 'deoptimize']
/** Samples under this frame are `fn`'s; its name and file identify it in the profile. */
const FOCUS = { name: 'yappiProfileRoot', url: pathToFileURL(__filename).href }
let profiling = false

function yappiProfileRoot<T>(fn: () => T): T {
  return fn()
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as PromiseLike<unknown> | null)?.then === 'function'
}

/**
 * Profiles one call of `fn` on this thread and returns the stats of `fn` alone, apart from
 * (and without disturbing) any `start()` session. A synchronous `fn` keeps exactly the samples
 * taken inside it; for a promise, every sample of this thread until it settles counts, since
 * continuations after an `await` have no caller on the stack. Throws what `fn` throws.
 */
export function profile<T>(fn: () => T, options?: ProfileOptions): T extends PromiseLike<unknown> ? Promise<FuncStats> : FuncStats
export function profile(fn: () => unknown, options?: ProfileOptions): FuncStats | Promise<FuncStats> {
  if (typeof fn !== 'function') throw new YappiError(`profile() needs a function, not ${describe(fn)}`)
  const resolved = resolveOptions(options, PROFILE_OPTIONS)
  if (profiling) throw new YappiError('profile() is already running on this thread; nested calls would mix their stats')
  const agent = (globalThis as unknown as Record<symbol, Agent | undefined>)[Symbol.for(AGENT_KEY)]
  if (agent?.running && agent.exact && !canSampleOneCallBesideCoverage()) {
    throw new YappiError("profile() is refused while start({ counts: 'exact' }) runs on this thread: ending its inspector session would end precise coverage for the thread")
  }
  profiling = true
  native.forgetThread('profile', thisThread.id)
  let sampler: CallSampler
  try {
    sampler = new CallSampler(resolved.intervalUs, resolved.deoptimize && !agent?.exact)
  } catch (error) {
    profiling = false
    throw new YappiError(`could not start sampling: ${(error as Error).message}`)
  }
  let result: unknown
  try {
    result = yappiProfileRoot(fn)
  } catch (error) {
    finishQuietly(sampler, resolved, true)
    throw error
  }
  if (!isPromiseLike(result)) return finish(sampler, resolved, true)
  return Promise.resolve(result).then(
    () => finish(sampler, resolved, false),
    (error: unknown) => {
      finishQuietly(sampler, resolved, false)
      throw error
    },
  )
}

function finish(sampler: CallSampler, options: ResolvedOptions, focused: boolean): FuncStats {
  try {
    sampler.stopAndFold(options, focused ? FOCUS : undefined)
    const source = { scope: 'profile', threads: [thisThread.id] }
    return decodeFuncStats(native.funcStats(source.scope, source.threads), options.clock, source)
  } finally {
    native.forgetThread('profile', thisThread.id)
    profiling = false
  }
}

/** Ends profiling after `fn` failed: its error is what the caller needs to see. */
function finishQuietly(sampler: CallSampler, options: ResolvedOptions, focused: boolean): void {
  try {
    finish(sampler, options, focused)
  } catch {
    // The profiler's own failure here would hide fn's error; the stats are dropped instead.
  }
}
