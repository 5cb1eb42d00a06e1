import { YappiError, describe, messageOf } from './errors'

/**
 * Reading the caller's arguments. Options, filters and print options are read once each into
 * a plain object, so that a getter that changes its value between reads, or throws, or a
 * revoked Proxy cannot make validation and use disagree or throw a raw `TypeError`.
 */

/** What an argument is called in messages, and which keys it may have. */
export interface Shape {
  /** `options`, `filter`, …: what messages call the argument. */
  name: string
  /** `option`, `filter key`, …: what messages call one of its keys. */
  key: string
  allowed: readonly string[]
}

/** Runs `read`; anything but a YappiError it throws becomes one that says what could not be read. */
export function readOrRefuse<T>(what: string, read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof YappiError) throw error
    throw new YappiError(`${what} could not be read: ${messageOf(error)}`)
  }
}

/**
 * A copy of `value`'s own enumerable string keys, each read once. Only plain objects (prototype
 * `Object.prototype` or `null`) are taken: keys inherited from another prototype would be
 * either used without being checked or ignored without a word. Unknown keys are errors (typos).
 */
export function readPlainObject(value: unknown, shape: Shape): Record<string, unknown> {
  if (value === null || typeof value !== 'object') throw new YappiError(`${shape.name} must be an object, not ${describe(value)}`)
  const keys = readOrRefuse(shape.name, () => {
    if (Array.isArray(value)) throw new YappiError(`${shape.name} must be an object, not an array`)
    const prototype = Object.getPrototypeOf(value)
    if (prototype !== Object.prototype && prototype !== null) {
      throw new YappiError(`${shape.name} must be a plain object ({ ... }): keys inherited from its prototype would not be read`)
    }
    return Object.keys(value)
  })
  const unknown = keys.find((key) => !shape.allowed.includes(key))
  if (unknown !== undefined) {
    throw new YappiError(`unknown ${shape.key} ${describe(unknown)}; known ${shape.key}s: ${shape.allowed.join(', ')}`)
  }
  const copy: Record<string, unknown> = {}
  for (const key of keys) copy[key] = readOrRefuse(`${shape.name}.${key}`, () => (value as Record<string, unknown>)[key])
  return copy
}

/** The engine holds thread ids in 32 bits; no process starts 2^32 workers, so a larger id names no thread. */
const MAX_THREAD_ID = 0xffff_ffff

/**
 * Checks a `threadId` filter: the thread ids for the engine, or undefined for all threads. Ids
 * that no thread can have are dropped, so they select nothing rather than wrap to another.
 */
export function resolveThreads(threadId: unknown): number[] | undefined {
  if (threadId === undefined) return undefined
  const ids = readOrRefuse('filter.threadId', () => (Array.isArray(threadId) ? Array.from(threadId as unknown[]) : [threadId]))
  if (ids.some((id) => !Number.isSafeInteger(id) || (id as number) < 0)) {
    throw new YappiError(`filter.threadId must be a thread id (a whole number >= 0) or a list of them, not ${describe(threadId)}`)
  }
  return (ids as number[]).filter((id) => id <= MAX_THREAD_ID)
}
