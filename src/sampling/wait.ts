/** One slice of a wait, in ms: the longest an inspector message to the waiting thread waits. */
const SLICE_MS = 1

/**
 * This thread's wake cell: the profiler thread sets it and notifies it when it answered this
 * thread or folded one of its profiles (see {@link wake}), so a wait ends then rather than at
 * the end of its slice. Without it (a thread the profiler thread does not know yet) a wait
 * still ends within a slice of the answer.
 */
export const WAKE_CELL = new Int32Array(new SharedArrayBuffer(4))

/** Ends the current slice of a thread's wait (the cell it sent with its requests). */
export function wake(cell: Int32Array): void {
  Atomics.store(cell, 0, 1)
  Atomics.notify(cell, 0)
}

/**
 * Polls `poll` until it gives an answer or `deadlineMs` pass, waiting in 1 ms slices of
 * `Atomics.wait` between polls: V8 runs interrupts (the inspector messages sent to this thread)
 * inside `Atomics.wait`, while a native wait, or a loop that makes few calls, would hold them
 * back for as long as it lasts. Undefined at the deadline.
 */
export function waitInSlices<T>(poll: () => T | null, deadlineMs: number): T | undefined {
  const until = Date.now() + deadlineMs
  for (;;) {
    // Cleared before the poll: a wake that comes after it ends the next slice at once.
    Atomics.store(WAKE_CELL, 0, 0)
    const answer = poll()
    if (answer !== null) return answer
    if (Date.now() > until) return undefined
    Atomics.wait(WAKE_CELL, 0, 0, SLICE_MS)
  }
}

/** Whether `work` settled (either way) within `ms`. */
export function withDeadline(work: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms)
    work.then(
      () => {
        clearTimeout(timer)
        resolve(true)
      },
      () => {
        clearTimeout(timer)
        resolve(true)
      },
    )
  })
}
