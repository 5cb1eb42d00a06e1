import { messageOf } from './errors'
import { native } from './native'
import { thisThread } from './thread'

/**
 * A failure inside the profiler, contained instead of thrown at the application. Faults are kept
 * for the whole process (the profiler thread records most of them), and faults of one kind (the
 * same `where` and message, numbers aside: "worker 3 ended …" and "worker 7 ended …" are one
 * kind) are counted in one entry, which keeps the first fault's text.
 */
export interface Fault {
  /** What the profiler was doing, e.g. `'rotate'`, at the first fault of this kind. */
  where: string
  /** What went wrong, at the first fault of this kind. */
  message: string
  /** When the first fault of this kind happened, in milliseconds since the epoch. */
  time: number
  /** When the last one happened (equal to `time` when `count` is 1). */
  lastTime: number
  /** How many faults of this kind happened. */
  count: number
  /** Node's `threadId` of the thread the first fault concerns (0 = main): a worker's fault names the worker. */
  threadId: number
  /** The thread the last fault of this kind concerns. */
  lastThreadId: number
}

/**
 * Records a contained failure: `where` says what the profiler was doing, `threadId` the thread
 * it concerns (this thread unless given). Never throws.
 */
export function recordFault(where: string, error: unknown, threadId: number = thisThread.id): void {
  try {
    native.recordFault(where, messageOf(error), threadId)
  } catch {
    // A fault that cannot be recorded is lost; the profiler goes on.
  }
}

/** Faults recorded in this process, one entry per kind, by their first time, and how many were let go. */
export function getFaults(): {
  /** One entry per kind of fault, by the time of its first fault. */
  faults: Fault[]
  /** Faults let go: all those of kinds no longer listed because more than 100 kinds were seen. */
  dropped: number
} {
  const { faults, dropped } = native.faults()
  return {
    faults: faults.map((fault) => ({
      where: fault.place,
      message: fault.message,
      time: fault.first,
      lastTime: fault.last,
      count: fault.count,
      threadId: fault.firstThread,
      lastThreadId: fault.lastThread,
    })),
    dropped,
  }
}

/** Forgets the faults recorded so far. */
export function clearFaults(): void {
  native.clearFaults()
}
