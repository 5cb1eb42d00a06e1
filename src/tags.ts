import { AsyncLocalStorage, createHook, type AsyncHook, type HookCallbacks } from 'node:async_hooks'
import { performance } from 'node:perf_hooks'
import { promiseHooks } from 'node:v8'
import { threadId } from 'node:worker_threads'

import { YappiError, describe, messageOf } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { AGENT_KEY, TAGS_KEY } from './sampling/agent'

/**
 * Async tags: every sample is attributed to the tag active when it was taken.
 *
 * While this thread is profiled and a tag source is set, an async hook reads the tag at the
 * start of every async callback (timers, I/O, promise continuations) and puts the outer tag
 * back when a nested callback ends; `withTag` does the same around its synchronous body. Only
 * *changes* are recorded, as (time, tag) switches into a fixed-size buffer that is handed to
 * the engine at each rotation (or earlier when full), where they are joined with the sample
 * times. Times are `performance.now()` converted to V8's sample clock (µs of the monotonic
 * clock that `process.hrtime` reads).
 */

/** A tag names what the thread works for: a route, a request, a tenant. */
export type Tag = string | number

/** What the engine receives for "no tag". */
const NO_TAG = 0xffffffff
/** Switches buffered before they are handed over early. */
const CAPACITY = 8192
/**
 * Hooks whose `after` never ran (an uncaught exception skips them) would grow the stack of
 * outer tags forever; past this depth it is dropped and rebuilt from the next callbacks.
 */
const MAX_DEPTH = 1024

/** `performance.now()` in ms plus this, in µs, is V8's sample clock: measured as the tightest bracket. */
const ORIGIN_US = (() => {
  let best = Infinity
  let origin = 0
  for (let i = 0; i < 32; i++) {
    const before = process.hrtime.bigint()
    const now = performance.now()
    const after = process.hrtime.bigint()
    const window = Number(after - before)
    if (window < best) {
      best = window
      origin = Number(before) / 1000 + window / 2000 - now * 1000
    }
  }
  return origin
})()

/** `createHook`'s options on recent Node 24 and 26 (not yet in @types/node). */
type HookOptions = HookCallbacks & { trackPromises?: boolean }

/**
 * Promise continuations are watched through V8's promise hooks rather than async_hooks' where
 * that is sound: async_hooks' own promise tracking gives every promise an async id and costs
 * ~3× more per await (Node 24.22, an await loop: +55–65 ns per await this way against
 * +170–220 ns). Sound only when async_hooks can leave promises out (`trackPromises`: Node
 * 24.22 and 26 here; 20 and 22 ignore the option, so only where it is known is an invalid
 * value refused) and `AsyncLocalStorage` follows promises by itself (AsyncContextFrame,
 * default from Node 24; its storage then has no `_propagate`): a store is then already
 * current in a promise hook's `before`.
 */
const promisesApart = (() => {
  if ('_propagate' in AsyncLocalStorage.prototype) return false
  const invalid: HookOptions = { trackPromises: 0 as unknown as boolean }
  try {
    createHook(invalid)
    return false
  } catch {
    return true
  }
})()

const storage = new AsyncLocalStorage<Tag>()
let callback: (() => unknown) | undefined
/** `withTag` was used without a callback: the tag source is its storage. */
let storageSource = false
/** This thread is being profiled (its own profiler, or the main thread's rotations reach it). */
let profiled = false
let hook: AsyncHook | undefined
let stopPromiseHooks: (() => void) | undefined
let lastFailure: string | undefined

let current: unknown = undefined
const outer: unknown[] = []
const times = new Float64Array(CAPACITY)
const tags: unknown[] = new Array(CAPACITY)
let count = 0

function readTag(): unknown {
  if (callback === undefined) return storage.getStore()
  try {
    const tag = callback()
    if (tag === undefined || tag === null) return undefined
    if (isTag(tag)) return tag
    throw new YappiError(`the tag callback must return a string, a finite number or undefined, not ${describe(tag)}`)
  } catch (error) {
    reportFailure(error)
    return undefined
  }
}

/** Every failure is contained; a callback that fails the same way on each await is reported once. */
function reportFailure(error: unknown): void {
  const message = messageOf(error)
  if (message === lastFailure) return
  lastFailure = message
  recordFault('tag callback', error)
}

function switchTo(tag: unknown): void {
  current = tag
  if (count === CAPACITY) flushTags()
  times[count] = performance.now()
  tags[count] = tag
  count++
}

function before(): void {
  if (outer.length >= MAX_DEPTH) outer.length = 0
  outer.push(current)
  const tag = readTag()
  if (tag !== current) switchTo(tag)
}

function after(): void {
  const tag = outer.pop()
  // Back in the event loop: the next callback's `before` decides. Until then the tag stays as
  // it was, so a run of callbacks of one tag records nothing (the engine never tags idle
  // samples, so waiting in between is not charged to it).
  if (outer.length === 0) return
  if (tag !== current) switchTo(tag)
}

/** Re-reads the tag after a synchronous change the hooks cannot see. */
function note(): void {
  if (hook === undefined) return
  const tag = readTag()
  if (tag !== current) switchTo(tag)
}

/** Hooks run only while both a tag source is set and this thread is profiled: tags cost nothing otherwise. */
function update(): void {
  const wanted = profiled && (callback !== undefined || storageSource)
  if (wanted && hook === undefined) {
    outer.length = 0
    const options: HookOptions = promisesApart ? { before, after, trackPromises: false } : { before, after }
    hook = createHook(options)
    hook.enable()
    if (promisesApart) stopPromiseHooks = promiseHooks.createHook({ before, after }) as () => void
    note()
  } else if (!wanted && hook !== undefined) {
    hook.disable()
    hook = undefined
    stopPromiseHooks?.()
    stopPromiseHooks = undefined
    outer.length = 0
    if (current !== undefined) switchTo(undefined)
  }
}

/** Hands the buffered switches to the engine; they fold with this thread's next profile. */
export function flushTags(): void {
  if (count === 0) return
  const names: string[] = []
  // Keyed by the value itself: 1 and '1' get two entries of the same name, which the engine
  // interns as one tag.
  const index = new Map<unknown, number>()
  const ids = new Uint32Array(count)
  const timesUs = new Float64Array(count)
  for (let i = 0; i < count; i++) {
    const tag = tags[i]
    tags[i] = undefined
    timesUs[i] = times[i] * 1000 + ORIGIN_US
    if (tag === undefined) {
      ids[i] = NO_TAG
      continue
    }
    let id = index.get(tag)
    if (id === undefined) {
      id = names.length
      index.set(tag, id)
      names.push(String(tag))
    }
    ids[i] = id
  }
  count = 0
  try {
    native.recordTags(threadId, names, ids, timesUs)
  } catch (error) {
    recordFault('tags', error)
  }
}

/** Called by this thread's own profiler when it starts and stops. */
export function setProfiled(on: boolean): void {
  profiled = on
  update()
}

/**
 * Sets the function that names the current tag (a string or a number; `undefined` for none),
 * or removes it with `null`. It runs at the start of every async callback while profiling, so
 * it must be cheap; a callback that throws is contained (see `getFaults()`), its time untagged.
 * Per thread: a worker that wants tags sets its own (it must import this module).
 */
export function setTagCallback(fn: (() => Tag | undefined) | null): void {
  if (fn !== null && typeof fn !== 'function') {
    throw new YappiError(`setTagCallback() needs a function or null, not ${describe(fn)}`)
  }
  callback = fn ?? undefined
  lastFailure = undefined
  update()
  note()
}

/** What `withTag` takes and a tag callback may return; NaN and infinities name nothing. */
function isTag(tag: unknown): tag is Tag {
  return typeof tag === 'string' || (typeof tag === 'number' && Number.isFinite(tag))
}

function checkTag(tag: unknown): Tag {
  if (isTag(tag)) return tag
  throw new YappiError(`a tag must be a string or a finite number, not ${describe(tag)}`)
}

function enter<T>(fn: () => T): T {
  note()
  return fn()
}

/**
 * Runs `fn` with `tag` active, and everything it starts asynchronously (awaits, timers, I/O
 * callbacks) too, through an `AsyncLocalStorage`. Without a tag callback, the first call makes
 * this storage the tag source. Returns what `fn` returns.
 */
export function withTag<T>(tag: Tag, fn: () => T): T {
  checkTag(tag)
  if (typeof fn !== 'function') throw new YappiError(`withTag() needs a function to run, not ${describe(fn)}`)
  if (!storageSource && callback === undefined) {
    storageSource = true
    update()
  }
  try {
    return storage.run(tag, enter, fn)
  } finally {
    note()
  }
}

/** The tag `withTag` made active here, if any (also usable inside a custom tag callback). */
export function currentTag(): Tag | undefined {
  return storage.getStore()
}

function guarded(body: () => void): () => void {
  return () => {
    try {
      body()
    } catch (error) {
      recordFault('tags', error)
    }
  }
}

/**
 * Every thread's profile is rotated by the agent the profiler thread runs in it
 * (`src/sampling/agent.ts`): these entry points let it tell this module that profiling runs,
 * and have it hand over the switches before each profile ends.
 */
const globals = globalThis as unknown as Record<symbol, unknown>
globals[Symbol.for(TAGS_KEY)] = {
  rotate: guarded(() => {
    setProfiled(true)
    flushTags()
  }),
  stop: guarded(() => {
    flushTags()
    setProfiled(false)
  }),
  flush: guarded(flushTags),
}
// A thread may load this module after the profiler began profiling it.
if ((globals[Symbol.for(AGENT_KEY)] as { running?: boolean } | undefined)?.running) profiled = true
