/** One slice of a wait, in ms: the longest an inspector message to the waiting thread waits. */
const SLICE_MS = 1

const slice = new Int32Array(new SharedArrayBuffer(4))

/**
 * Polls `poll` until it gives an answer or `deadlineMs` pass, waiting in 1 ms slices of
 * `Atomics.wait` between polls: V8 runs interrupts (the inspector messages sent to this thread)
 * inside `Atomics.wait`, while a native wait, or a loop that makes few calls, would hold them
 * back for as long as it lasts. Undefined at the deadline.
 */
export function waitInSlices<T>(poll: () => T | null, deadlineMs: number): T | undefined {
  const until = Date.now() + deadlineMs
  for (;;) {
    const answer = poll()
    if (answer !== null) return answer
    if (Date.now() > until) return undefined
    Atomics.wait(slice, 0, 0, SLICE_MS)
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
