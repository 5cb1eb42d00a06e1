// A worker with a known split of time for the HTTP endpoint's tests, while the main thread
// serves: `hot` spins 1.5 s, then `cold` 0.5 s, then a function whose name is markup runs
// briefly, over and over. The period (2 s) is long so that where a starved sampler's gap
// spans a switch from one function to the other (the machine is shared) it moves little time,
// and a window of 2 s covers one whole period whatever its phase. The worker stops by itself
// after `maxMs`, or when told, and logs when each phase began, so that a test can tell the
// true split of any stretch of time it measured.
import { performance } from 'node:perf_hooks'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'

import { spinB, spinC } from './burn'

export const HOT_MS = 1500
export const COLD_MS = 500
/** How long the oddly named function runs in each period: long enough for a loaded sampler to see it. */
export const OTHER_MS = 30
export const MARKUP_NAME = '<img src=x onerror=alert(1)>'

/** 75 % of each period; its own time is in spinB below it. */
export function hot(ms: number): void {
  spinB(ms)
}

/** 25 % of each period. */
export function cold(ms: number): void {
  spinC(ms)
}

// A string-literal key names the function as V8's profiler reports it (a computed key would not).
const named = {
  '<img src=x onerror=alert(1)>'(ms: number): void {
    spinC(ms)
  },
}

/** What the worker began doing when: `at` in ms since the epoch, on every thread's clock alike. */
export interface Phase {
  at: number
  what: 'hot' | 'cold' | 'other'
}

export interface ServingWorker {
  worker: Worker
  threadId: number
  /** Resolves after the worker's first period. */
  ready: Promise<void>
  /** The phases so far (answered between two periods, so within 2 s). */
  phases(): Promise<Phase[]>
  /** Asks the worker to stop and waits until it has exited (terminating it after 5 s). */
  stop(): Promise<void>
}

/** Starts the workload in a worker named `name` that ends by itself after `maxMs`. */
export function startServingWorker(name: string, maxMs: number): ServingWorker {
  const worker = new Worker(__filename, { name, workerData: { maxMs } })
  const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()))
  const ready = new Promise<void>((resolve, reject) => {
    worker.once('message', () => resolve())
    worker.once('error', reject)
    void exited.then(() => reject(new Error(`worker ${name} exited before its first period`)))
  })
  ready.catch(() => {})
  return {
    worker,
    threadId: worker.threadId,
    ready,
    phases() {
      return new Promise((resolve, reject) => {
        const deadline = setTimeout(() => reject(new Error(`worker ${name} did not send its phases within 10 s`)), 10_000)
        worker.once('message', (phases: Phase[]) => {
          clearTimeout(deadline)
          resolve(phases)
        })
        worker.postMessage('phases')
      })
    },
    async stop() {
      worker.postMessage('stop')
      const deadline = setTimeout(() => void worker.terminate(), 5_000)
      await exited
      clearTimeout(deadline)
    },
  }
}

async function periods(maxMs: number): Promise<void> {
  let stopped = false
  const phases: Phase[] = []
  const begin = (what: Phase['what']) => phases.push({ at: performance.timeOrigin + performance.now(), what })
  parentPort!.on('message', (message: string) => {
    if (message === 'phases') parentPort!.postMessage(phases)
    else stopped = true
  })
  const start = Date.now()
  for (let period = 0; !stopped && Date.now() - start < maxMs; period++) {
    begin('hot')
    hot(HOT_MS)
    begin('cold')
    cold(COLD_MS)
    begin('other')
    named[MARKUP_NAME](OTHER_MS)
    if (period === 0) parentPort!.postMessage('ready')
    await new Promise((resolve) => setImmediate(resolve))
  }
  parentPort!.close()
}

if (!isMainThread && workerData?.maxMs !== undefined) void periods(workerData.maxMs as number)
