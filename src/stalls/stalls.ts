import * as fs from 'node:fs'

import { refreshHere } from '../api'
import { YappiError, describe } from '../errors'
import { recordFault } from '../faults'
import { readOrRefuse, readPlainObject, resolveThreads } from '../input'
import { native } from '../native'
import { resolveFormat, type SaveFormat } from '../saved'
import { displayModule, resolveOutput } from '../table'
import { STALLS_CHANNEL } from './announce'

/** A function in a stall: its time in the stall alone. */
export interface StallFunction {
  /** The function's name, as in the stats. */
  name: string
  /** Its file (a path, a URL, or empty for `(builtins)`). */
  module: string
  /** 1-based line and column of the function in its file. */
  line: number
  /** 1-based column (see `line`). */
  column: number
  /** Self time in the stall, ms. */
  selfMs: number
  /** Time with callees in the stall, ms (recursion counted once). */
  totalMs: number
  /** Self time over the stall's duration. */
  share: number
}

/** Which stalls {@link getStalls} returns. */
export interface StallFilter {
  /** A thread id or a list of them. */
  threadId?: number | number[]
  /** Only stalls at least this long. */
  minDurationMs?: number
  /** Only stalls that started at or after this time (epoch ms or a Date). */
  since?: number | Date
}

/** How many functions each stall lists by self time. */
const TOP_FUNCTIONS = 10

interface StallData {
  id: number
  threadId: number
  threadName: string
  start: number
  durationMs: number
  edgeGapMs: number
  maxGapMs: number
  samples: number
  tag: string | null
  profiles: number
  cut: boolean
  functions: StallFunction[]
  heaviestPath: StallFunction[]
}

/**
 * One stretch in which a thread's event loop did not turn: when, how long, on which thread,
 * under which tag, and what ran in it.
 */
export class Stall {
  /** Unique in the process; later stalls have larger ids. */
  readonly id: number
  /** The thread whose loop stood still (main is 0). */
  readonly threadId: number
  /** Its name: `main`, or the worker's `name` option. */
  readonly threadName: string
  /** When the stall began (its first busy sample), epoch ms. */
  readonly start: number
  /** From its first busy sample to the next idle one, ms. */
  readonly durationMs: number
  /** The longest sample gap at either edge: the true edges lie within this of the measured ones. */
  readonly edgeGapMs: number
  /**
   * The longest time one of its samples stood for (the sampler's gap, long on a loaded
   * machine): how much time one sample V8 charged to another frame can move between functions.
   */
  readonly maxGapMs: number
  /** Samples taken in it. */
  readonly samples: number
  /** The tag (see `withTag`) that ran longest in the stall, if any. */
  readonly tag: string | undefined
  /** Profiles the stall spans: more than one when it straddled a rotation (it is joined). */
  readonly profiles: number
  /** Still going when its thread's profiling ended: its end is where profiling stopped. */
  readonly cut: boolean
  /** Functions by self time in the stall, largest first (at most 10). */
  readonly functions: readonly StallFunction[]
  /** The heaviest call path, outermost first: from the top, the callee with the most time. */
  readonly heaviestPath: readonly StallFunction[]

  /** @internal */
  constructor(data: StallData) {
    this.id = data.id
    this.threadId = data.threadId
    this.threadName = data.threadName
    this.start = data.start
    this.durationMs = data.durationMs
    this.edgeGapMs = data.edgeGapMs
    this.maxGapMs = data.maxGapMs
    this.samples = data.samples
    this.tag = data.tag ?? undefined
    this.profiles = data.profiles
    this.cut = data.cut
    this.functions = data.functions
    this.heaviestPath = data.heaviestPath
  }

  /** The stall in one glance: what, where, which request, which functions. */
  format(): string {
    const tag = this.tag === undefined ? 'no tag' : `tag ${JSON.stringify(this.tag)}`
    const lines = [
      `Stall ${this.id}: ${this.durationMs.toFixed(1)} ms on thread ${this.threadId} (${this.threadName}), ${tag}, at ${new Date(this.start).toISOString()}` +
        `${this.cut ? ' (cut: profiling ended during it)' : ''}`,
      `  ${this.samples} samples (longest ${this.maxGapMs.toFixed(1)} ms), edges within ${this.edgeGapMs.toFixed(1)} ms${this.profiles > 1 ? `, across ${this.profiles} profiles` : ''}`,
      '     self ms   share  function',
      // Callers with no time of their own are on the heaviest path below.
      ...this.functions.filter((f) => f.selfMs > 0).map((f) => `  ${f.selfMs.toFixed(1).padStart(10)}  ${(f.share * 100).toFixed(1).padStart(5)} %  ${where(f)}`),
      `  heaviest path: ${this.heaviestPath.map((f) => f.name).join(' > ') || '(none)'}`,
    ]
    return `${lines.join('\n')}\n`
  }

  /** {@link format}. */
  toString(): string {
    return this.format()
  }

  /** Writes {@link format} to `out` (default `process.stdout`). */
  print(out?: { write(text: string): unknown }): void {
    resolveOutput(out)(this.format())
  }

  /** The stall's own profile (its flame graph) in an export format. */
  toBuffer(format: SaveFormat): Buffer {
    const resolved = resolveFormat(format)
    let data: Buffer | null
    try {
      data = native.exportStall(this.id, resolved)
    } catch (error) {
      throw new YappiError((error as Error).message)
    }
    if (!data) throw new YappiError(`stall ${this.id} is no longer held (pushed out of the ring by newer stalls, or the stats were cleared)`)
    return data
  }

  /** Writes the stall's profile to `file`, in `format` or the one its name implies; returns the path. */
  save(file: string, format?: SaveFormat): string {
    if (typeof file !== 'string' || file.length === 0) throw new YappiError(`a file path must be a non-empty string, not ${describe(file)}`)
    const data = this.toBuffer(resolveFormat(format, file))
    try {
      fs.writeFileSync(file, data)
    } catch (error) {
      throw new YappiError(`cannot write ${describe(file)}: ${(error as Error).message}`)
    }
    return file
  }
}

function where(f: StallFunction): string {
  return f.module === '' ? f.name : `${f.name}  ${displayModule(f.module)}:${f.line}:${f.column}`
}

/** Stalls and how many were dropped (pushed out of the ring, or refused by the memory budget). */
export type Stalls = Stall[] & {
  /** Stalls no longer held: pushed out by newer ones (`maxStalls`) or refused by the memory budget. */
  dropped: number
}

interface ResolvedStallFilter {
  threads: number[] | undefined
  minDurationMs: number
  since: number | undefined
}

export function resolveStallFilter(filter: unknown): ResolvedStallFilter {
  if (filter === undefined) return { threads: undefined, minDurationMs: 0, since: undefined }
  const given = readPlainObject(filter, { name: 'filter', key: 'filter key', allowed: ['threadId', 'minDurationMs', 'since'] })
  // Only an absent key means the default: `?? 0` would also let null through.
  const minDurationMs = given.minDurationMs === undefined ? 0 : given.minDurationMs
  if (typeof minDurationMs !== 'number' || !(minDurationMs >= 0) || !Number.isFinite(minDurationMs)) {
    throw new YappiError(`filter.minDurationMs must be a number of milliseconds >= 0, not ${describe(given.minDurationMs)}`)
  }
  // `instanceof` asks a Proxy for its prototype and `getTime` needs a real Date: either may throw.
  const since = readOrRefuse('filter.since', () => (given.since instanceof Date ? given.since.getTime() : given.since))
  if (since !== undefined && (typeof since !== 'number' || !Number.isFinite(since))) {
    throw new YappiError(`filter.since must be a time (epoch ms or a Date), not ${describe(given.since)}`)
  }
  return { threads: resolveThreads(given.threadId), minDurationMs, since: since as number | undefined }
}

function readStalls({ threads, minDurationMs, since }: ResolvedStallFilter): Stalls {
  const { dropped, stalls } = JSON.parse(native.stalls(threads, minDurationMs, since, TOP_FUNCTIONS)) as { dropped: number; stalls: StallData[] }
  return Object.assign(stalls.map((data) => new Stall(data)), { dropped })
}

/**
 * Stalls recorded so far, oldest first (the calling thread's running profile is folded first;
 * other threads' stalls appear as their profiles rotate). `filter`: thread ids, a minimum
 * duration, a start time. Cleared by {@link clearStats}.
 */
export function getStalls(filter?: StallFilter): Stalls {
  const resolved = resolveStallFilter(filter)
  refreshHere()
  return readStalls(resolved)
}

type StallCallback = (stall: Stall) => unknown

const callbacks = new Set<StallCallback>()
let listener: BroadcastChannel | undefined
let lastSeen = 0

function deliver(): void {
  let fresh: Stall[]
  try {
    fresh = readStalls({ threads: undefined, minDurationMs: 0, since: undefined }).filter((stall) => stall.id > lastSeen)
  } catch (error) {
    recordFault('onStall', error)
    return
  }
  for (const stall of fresh) {
    lastSeen = Math.max(lastSeen, stall.id)
    for (const callback of callbacks) {
      try {
        const result = callback(stall) as { then?: unknown } | undefined
        if (result && typeof result.then === 'function') (result as Promise<unknown>).then(undefined, (error: unknown) => recordFault('onStall', error))
      } catch (error) {
        recordFault('onStall', error)
      }
    }
  }
}

/**
 * Calls `callback` on this thread with every stall recorded from now on, any thread's, as soon
 * as the profiler thread folded it. A callback that throws (or rejects) is recorded in
 * `getFaults()` and never reaches the application. Returns a function that unsubscribes.
 */
export function onStall(callback: (stall: Stall) => unknown): () => void {
  if (typeof callback !== 'function') throw new YappiError(`onStall needs a function, not ${describe(callback)}`)
  if (!listener) {
    lastSeen = readStalls({ threads: undefined, minDurationMs: 0, since: undefined }).reduce((most, stall) => Math.max(most, stall.id), lastSeen)
    listener = new BroadcastChannel(STALLS_CHANNEL)
    listener.onmessage = deliver
    ;(listener as unknown as { unref?: () => void }).unref?.()
  }
  callbacks.add(callback)
  return () => {
    callbacks.delete(callback)
    if (callbacks.size === 0 && listener) {
      listener.close()
      listener = undefined
    }
  }
}
