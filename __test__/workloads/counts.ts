// Functions called a known number of times, for exact call counts. Run as a worker, it does the
// same when told to (after the profiler attached to it).
import { isMainThread, parentPort, workerData } from 'node:worker_threads'

export function calledThousand(i: number): number {
  return (i * 7) % 13
}

export function calledThirtySeven(i: number): number {
  return (i * 11) % 17
}

export function calledFive(i: number): number {
  return (i * 5) % 19
}

export function calledOnce(): number {
  return 1
}

/** Direct recursion: `depth` calls per outer call, one of them not recursive. */
export function countDown(depth: number): number {
  return depth <= 1 ? 1 : 1 + countDown(depth - 1)
}

/** 1000, 37 and 5 calls, one call, and 3 outer calls of countDown(4) (12 calls, 3 not recursive). */
export function runCounted(): number {
  let sum = 0
  for (let i = 0; i < 1000; i++) sum += calledThousand(i)
  for (let i = 0; i < 37; i++) sum += calledThirtySeven(i)
  for (let i = 0; i < 5; i++) sum += calledFive(i)
  sum += calledOnce()
  for (let i = 0; i < 3; i++) sum += countDown(4)
  return sum
}

/**
 * Spins on `Date.now()` for `ms`, calling `midway` once half-way. In optimized code V8 loses
 * this frame in samples taken inside the clock read and charges its caller: the case that made
 * one long call look like several.
 */
export function longCall(ms: number, midway?: () => void): number {
  const start = Date.now()
  let sink = 0
  let halfway = midway
  while (Date.now() - start < ms) {
    for (let k = 0; k < 200; k++) sink = (sink + k * k) % 1_000_003
    if (halfway && Date.now() - start >= ms / 2) {
      halfway()
      halfway = undefined
    }
  }
  return sink
}

/** One call of `longCall`: its caller, called once too. */
export function oneLongCall(ms: number, midway?: () => void): number {
  return longCall(ms, midway)
}

export const COUNTS_WORKER_FILE = __filename

// 'go': the counted calls; a number: one long call of that many ms; anything else: exit.
if (!isMainThread && workerData?.counted) {
  parentPort?.on('message', (message) => {
    if (message === 'go') parentPort?.postMessage(runCounted())
    else if (typeof message === 'number') parentPort?.postMessage(oneLongCall(message))
    else parentPort?.close()
  })
}
