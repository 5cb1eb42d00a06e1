// Tagged workloads with known truth. Each function spins on the monotonic clock for a set time
// (see burn.ts for why calls go through megamorphic sites). As a
// worker (`workerData.task`), runs a task when told to, reports, and exits when told to.
import { promises as fs } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'

import * as yappi from '../../index'
import { native } from '../../src/native'
import { spinA } from './burn'

// Distinct functions, so each one's tag is known; each calls the one spinning loop, so a
// sample V8 takes inside process.hrtime() (it loses the top frame) still lands in it.
export function routeA(ms: number): void {
  spinA(ms)
}
export function routeB(ms: number): void {
  spinA(ms)
}
export function stepOne(ms: number): void {
  spinA(ms)
}
export function stepTwo(ms: number): void {
  spinA(ms)
}
export function stepThree(ms: number): void {
  spinA(ms)
}
export function bystander(ms: number): void {
  spinA(ms)
}

const blocker = new Int32Array(new SharedArrayBuffer(4))

/** Spins a slice, sleeps a slice, until half of `totalMs` was spent each way. */
function spinAndSleep(totalMs: number, sliceMs: number): void {
  for (let slept = 0; slept < totalMs / 2; slept += sliceMs) {
    spinA(sliceMs)
    Atomics.wait(blocker, 0, 0, sliceMs)
  }
}

/**
 * Half on the CPU, half asleep *inside* this function (a blocking wait, not the event loop):
 * its wall-clock ttot is the whole run, its CPU-clock ttot half of it.
 */
export function halfAsleep(totalMs: number, sliceMs = 10): void {
  spinAndSleep(totalMs, sliceMs)
}

/**
 * The same, for a second measurement in one process: code V8 optimized on the stack (OSR)
 * under an earlier profiler is not named by a later one, and is charged to its caller — this
 * function, whose ttot is what is measured.
 */
export function halfAsleepAgain(totalMs: number, sliceMs = 10): void {
  spinAndSleep(totalMs, sliceMs)
}

/** Every measured call goes through here, made megamorphic below so no callee is inlined. */
export function invoke(fn: (ms: number) => void, ms: number): void {
  fn(ms)
}
for (const fn of [routeA, routeB, stepOne, stepTwo, stepThree, bystander, halfAsleep, halfAsleepAgain]) invoke(fn, 0)

/** `stepOne`, `stepTwo` and `stepThree` for `ms` each, with a timer, file I/O, an immediate and promises between them. */
export async function awaitChain(ms: number, file: string): Promise<void> {
  await sleep(2)
  invoke(stepOne, ms)
  await fs.readFile(file)
  invoke(stepTwo, ms)
  await new Promise((resolve) => setImmediate(resolve))
  await Promise.resolve()
  invoke(stepThree, ms)
}

/**
 * `steps` calls of `fn` for `ms` each, an await of a settled promise after each: started
 * beside another such task, the two alternate at promise continuations alone (no timer, no
 * I/O in between).
 */
export async function alternate(fn: (ms: number) => void, steps: number, ms: number): Promise<void> {
  for (let step = 0; step < steps; step++) {
    invoke(fn, ms)
    await null
  }
}

/** Runs `bystander` in slices on timers until `until` resolves (work another tag must not get); returns the seconds it ran. */
export async function interleave(sliceMs: number, until: Promise<unknown>): Promise<number> {
  let done = false
  void until.then(() => (done = true))
  let ran = 0n
  while (!done) {
    const start = process.hrtime.bigint()
    invoke(bystander, sliceMs)
    ran += process.hrtime.bigint() - start
    await sleep(1)
  }
  return Number(ran) / 1e9
}

export interface TaggedTask {
  /** Tag the worker's work with withTag (true) or with a tag callback over its own storage. */
  callback?: boolean
  /** Run `halfAsleep` for this long, untagged. */
  halfAsleepMs?: number
}

export const TAGGED_WORKER_FILE = __filename

/** Runs the task and reports the CPU seconds the worker used for it (its own thread clock). */
async function runWorkerTask(task: TaggedTask): Promise<void> {
  const cpuBefore = (native.threadCpuTimeNs() ?? NaN)
  if (task.halfAsleepMs) invoke(halfAsleep, task.halfAsleepMs)
  else if (task.callback) {
    let route = 'worker-a'
    yappi.setTagCallback(() => route)
    invoke(routeA, 150)
    route = 'worker-b'
    await sleep(5)
    invoke(routeB, 50)
    yappi.setTagCallback(null)
  } else {
    yappi.withTag('worker-a', () => invoke(routeA, 150))
    await yappi.withTag('worker-b', async () => {
      await sleep(5)
      invoke(routeB, 50)
    })
  }
  parentPort?.postMessage({ cpuSeconds: ((native.threadCpuTimeNs() ?? NaN) - cpuBefore) / 1e9 })
}

// Work starts when main says so (after the worker is attached: V8 does not name code it
// optimized on the stack before its profiler started); the worker leaves on the next message.
if (!isMainThread && workerData?.task) {
  parentPort?.once('message', () => {
    void runWorkerTask(workerData.task as TaggedTask)
    parentPort?.once('message', () => process.exit(0))
  })
}
