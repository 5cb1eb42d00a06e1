// Worker-thread workloads with known splits. Run as a worker: `workerData` says what to do.
import { isMainThread, parentPort, workerData, Worker } from 'node:worker_threads'

import * as yappi from '../../index'
import { spinA } from './burn'

// One distinct function per worker, so each function's thread is known. Each calls the
// spinning loop rather than spinning itself: a sample V8 takes inside process.hrtime() loses
// the top frame and is charged to its caller, which is then still this function (its ttot is
// what the tests read), not the task runner above it.
export function work0(ms: number): void {
  spinA(ms)
}
export function work1(ms: number): void {
  spinA(ms)
}
export function work2(ms: number): void {
  spinA(ms)
}
export function work3(ms: number): void {
  spinA(ms)
}
export function rest(ms: number): void {
  spinA(ms)
}

export const WORKS = [work0, work1, work2, work3]

/**
 * Every measured call goes through this site, made megamorphic below: TurboFan then cannot
 * inline the callee, and V8's sampler keeps its frame (see burn.ts).
 */
function invoke(fn: (ms: number) => void, ms: number): void {
  fn(ms)
}
for (const fn of [...WORKS, rest, spinA]) invoke(fn, 0)

export interface Task {
  /** Which workN to run, for how long, then `rest` for how long. */
  work?: { index: number; ms: number; restMs: number }
  /** Spin in a tight loop until terminated or this long. */
  spinMs?: number
  /** Call the API from inside the worker. */
  api?: 'start' | 'stop'
  /** Start a nested worker running this task and wait for it. */
  nested?: Task
}

export const WORKER_FILE = __filename

async function runWorkerTask(task: Task): Promise<void> {
  if (task.api === 'start') {
    yappi.start({ intervalUs: 500 })
    // A snapshot from a worker goes through main and returns once this worker is attached.
    await yappi.snapshot()
  }
  if (task.work) {
    invoke(WORKS[task.work.index], task.work.ms)
    invoke(rest, task.work.restMs)
  }
  if (task.spinMs) invoke(work3, task.spinMs)
  if (task.api === 'stop') parentPort?.postMessage({ stopped: yappi.stop() })
  if (task.nested) {
    const nested = new Worker(__filename, { workerData: { task: task.nested }, name: 'nested' })
    nested.postMessage('go')
    await new Promise((resolve) => nested.on('exit', resolve))
  }
}

// A worker starts its task when told to, so that its functions are compiled after profiling
// began: V8 does not name code it optimized on the stack (OSR) before its profiler started.
if (!isMainThread && workerData?.task) {
  parentPort?.once('message', () => void runWorkerTask(workerData.task as Task))
}
