// The profiler thread's promise: the application's threads pay for V8's sampling and nothing
// of the profiler shows in their stats; any thread reads any time, even with main blocked.
import test, { type ExecutionContext } from 'ava'
import * as path from 'node:path'
import * as v8 from 'node:v8'
import { Worker } from 'node:worker_threads'

import * as yappi from '../index'
import type { StartOptions } from '../index'
import { LIBRARY_WORKER, runLibrary, type Library, type LibraryReport } from './workloads/libraries'

const PACKAGE_DIST = path.resolve(__dirname, '..')

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
  yappi.clearFaults()
})

interface Running {
  worker: Worker
  threadId: number
  report: Promise<LibraryReport>
  exited: Promise<number>
  created: bigint
}

function runWorker(library: Library, ms: number): Running {
  const created = process.hrtime.bigint()
  const worker = new Worker(LIBRARY_WORKER, { workerData: { library, ms }, name: library })
  const report = new Promise<LibraryReport>((resolve, reject) => {
    worker.once('message', resolve)
    worker.once('error', reject)
  })
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve))
  worker.postMessage('go')
  return { worker, threadId: worker.threadId, report, exited, created }
}

/** Resolves with `work` or rejects after `ms`: no wait in a test may hang the run. */
function within<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms)
    work.then(
      (value) => {
        clearTimeout(timer)
        resolve(value)
      },
      (error: unknown) => {
        clearTimeout(timer)
        reject(error)
      },
    )
  })
}

/** Rows of ours: a frame of this package, of the agent the profiler runs in each thread, or file-less anonymous code. */
function oursIn(stats: yappi.FuncStats): string[] {
  const ownPrefixes = [path.join(PACKAGE_DIST, 'src'), path.join(PACKAGE_DIST, 'index.js'), 'yappi-node:']
  return stats
    .toArray()
    .filter((stat) => ownPrefixes.some((prefix) => stat.module.startsWith(prefix)) || (stat.kind === 'user' && stat.module === '' && stat.name === '(anonymous)'))
    .map((stat) => `${stat.name} ${stat.module}:${stat.line}`)
}

/** Long enough that a read never rotates: only the profiler thread's own rotations fold. */
const ANY_AGE_MS = 3_600_000

/**
 * A thread's function stats and thread stats from the same folds. Two reads one after the other
 * may not be: the profiler thread may fold a rotation of that thread between them (a snapshot()
 * that a thread answered late on a loaded machine leaves it one to fold), adding its samples to
 * the second read only. Read again until neither its profiles nor its samples moved across it.
 */
function readTogether(threadId: number): { own: yappi.FuncStats; thread: yappi.ThreadStat; rereads: number } {
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = yappi.getThreadStats({ maxAgeMs: ANY_AGE_MS }).get(threadId)
    const own = yappi.getFuncStats({ threadId, maxAgeMs: ANY_AGE_MS })
    const thread = yappi.getThreadStats({ maxAgeMs: ANY_AGE_MS }).get(threadId)
    if (!thread) throw new Error(`thread ${threadId} is not listed`)
    if (before?.profiles === thread.profiles && before.samples === thread.samples) return { own, thread, rereads: attempt }
  }
  throw new Error(`thread ${threadId}'s stats changed across each of 20 reads`)
}

test.serial('busy workers of real libraries and a busy main: no row of the profiler in any stats, its time counted apart', async (t) => {
  yappi.start()
  const workers = (['acorn', 'marked', 'json'] as const).map((library) => runWorker(library, 1500))
  try {
    // Main is busy too, and reads often: every read ends main's profile, every rotation of a
    // worker runs V8's serialization in it.
    const until = Date.now() + 1500
    let reads = 0
    while (Date.now() < until) {
      runLibrary('json', 50)
      yappi.getFuncStats()
      reads++
      await new Promise((resolve) => setImmediate(resolve))
    }
    await within(Promise.all(workers.map(({ report }) => report)), 20_000, 'the workers reporting')
    const merged = await yappi.snapshot()
    t.deepEqual(oursIn(merged), [], 'merged stats')
    const threads = yappi.getThreadStats()
    for (const { threadId, worker } of [{ threadId: 0, worker: undefined }, ...workers]) {
      const { own, thread, rereads } = readTogether(threadId)
      if (rereads > 0) t.log(`thread ${threadId}: a fold came between two reads, ${rereads} times`)
      t.deepEqual(oursIn(own), [], `thread ${threadId}`)
      t.true(thread.profilerTime > 0, `the profiler's work on thread ${threadId} is counted apart (${thread.profilerTime} s)`)
      // Self times, idle and the profiler's time make up the thread's wall time.
      const selfSum = own.toArray().reduce((sum, stat) => sum + stat.tsub, 0)
      const parts = selfSum + thread.idleTime + thread.profilerTime
      t.true(Math.abs(parts - thread.wallTime) <= thread.maxSampleGap + 1e-6, `thread ${threadId}: ${parts} of ${thread.wallTime}`)
      if (worker) t.truthy(own.find('runLibrary'), `the workload is named on thread ${threadId}`)
    }
    t.true(reads > 5, `${reads} reads`)
    const profilerThreadName = 'yappi-node profiler'
    t.false(threads.toArray().some((thread) => thread.name === profilerThreadName), 'the profiler thread is never a profiled thread')
    t.deepEqual(yappi.getFaults().faults, [])
  } finally {
    await Promise.all(workers.map(({ worker }) => worker.terminate()))
  }
})

test.serial("snapshot() from a worker while main is blocked in a synchronous task: within 1 s, with main's data and every thread's age", async (t) => {
  yappi.start()
  const code = `
    const { parentPort } = require('node:worker_threads')
    const yappi = require(${JSON.stringify(path.join(PACKAGE_DIST, 'index.js'))})
    parentPort.once('message', async () => {
      // Main has been blocked for a second when the snapshot is asked for.
      await new Promise((resolve) => setTimeout(resolve, 1000))
      const begin = Date.now()
      const stats = await yappi.snapshot()
      const took = Date.now() - begin
      const threads = yappi.getThreadStats().toArray().map((thread) => ({ id: thread.id, age: thread.age }))
      parentPort.postMessage({ took, blocked: stats.find('blockedOnMain')?.ttot ?? 0, threads })
    })
    parentPort.postMessage('ready')`
  const worker = new Worker(code, { eval: true })
  try {
    const got = (): Promise<unknown> => new Promise((resolve) => worker.once('message', resolve))
    await within(got(), 10_000, 'the worker getting ready')
    const answer = got()
    worker.postMessage('go')
    // Main blocked for 3 s in synchronous JavaScript: the profiler thread still reaches it.
    blockedOnMain(3000)
    const result = (await within(answer, 10_000, "the worker's snapshot")) as { took: number; blocked: number; threads: { id: number; age: number }[] }
    t.true(result.took < 1000, `snapshot took ${result.took} ms while main was blocked`)
    t.true(result.blocked > 0.5, `main's blocked function, a second into it, is in the worker's snapshot: ${result.blocked} s`)
    t.true(result.threads.some((thread) => thread.id === 0 && thread.age < 1), `main's data is fresh: ${JSON.stringify(result.threads)}`)
  } finally {
    await worker.terminate()
  }
})


/** What a read shows of each row, callers and callees included, in a fixed order. */
function rowsOf(stats: yappi.FuncStats): unknown[] {
  return stats.toArray().map((row) => ({ ...row, callers: row.callers, callees: row.callees }))
}

test.serial('snapshot() has the profiler thread encode: the very stats a read encoded on the calling thread shows, for every filter', async (t) => {
  yappi.start({ intervalUs: 200 })
  const worker = runWorker('json', 300)
  try {
    // Tagged work on main, and untagged, so that a tag filter selects a part of main's rows.
    await yappi.withTag('tagged', async () => {
      await new Promise((resolve) => setImmediate(resolve))
      runLibrary('marked', 150)
    })
    runLibrary('acorn', 150)
    await within(worker.report, 20_000, "the worker's run")
    await within(worker.exited, 10_000, "the worker's exit")
  } finally {
    await worker.worker.terminate()
  }
  yappi.stop()
  await yappi.snapshot()
  const filters: yappi.FuncFilter[] = [{}, { threadId: 0 }, { threadId: worker.threadId }, { tag: 'tagged' }, { threadId: [0, worker.threadId], module: /acorn/ }]
  const counts: number[] = []
  for (const filter of filters) {
    const away = await yappi.snapshot(filter)
    const here = yappi.getFuncStats(filter)
    t.deepEqual(rowsOf(away), rowsOf(here), JSON.stringify(filter))
    t.is(away.droppedSamples, here.droppedSamples)
    counts.push(away.length)
  }
  t.true(counts.every((count) => count > 0), `every filter selects rows: ${counts.join(', ')}`)
  t.true(counts[1] < counts[0] && counts[2] < counts[0] && counts[3] < counts[1], `the filters select parts: ${counts.join(', ')}`)
  t.deepEqual(yappi.getFaults().faults, [], 'no read fell back to encoding on the calling thread')
})
test.serial('reads that accept data up to an age rotate no thread whose data is that recent; fresh reads rotate', async (t) => {
  // No scheduled rotation in the test's time: only reads fold.
  yappi.start({ rotateIntervalMs: 600_000, maxRotateIntervalMs: 600_000 })
  const worker = new Worker('setInterval(() => {}, 1000)', { eval: true })
  try {
    const profiles = (): Map<number, number> => new Map([...yappi.getThreadStats({ maxAgeMs: Infinity })].map((thread) => [thread.id, thread.profiles]))
    await new Promise((resolve) => worker.once('online', resolve))
    let fresh = new Map<number, number>()
    const deadline = Date.now() + 10_000
    while (!fresh.has(worker.threadId) && Date.now() < deadline) {
      await yappi.snapshot()
      fresh = profiles()
    }
    t.true(fresh.has(worker.threadId), `the worker is profiled: ${JSON.stringify([...fresh])}`)
    await yappi.snapshot({ maxAgeMs: 600_000 })
    t.deepEqual(profiles(), fresh, 'data a moment old is accepted: nothing rotated')
    yappi.getFuncStats({ maxAgeMs: 600_000 })
    t.deepEqual(profiles(), fresh, 'nor for a read of this thread')
    await yappi.snapshot()
    const after = profiles()
    for (const [id, count] of fresh) t.true((after.get(id) ?? 0) > count, `a fresh snapshot folds thread ${id} again: ${count} -> ${after.get(id)}`)
  } finally {
    await worker.terminate()
  }
})

function blockedOnMain(ms: number): void {
  const until = Date.now() + ms
  let x = 0
  while (Date.now() < until) x += Math.sqrt(x + 1)
}

test.serial("each worker's CPU time matches its own thread clock, and no thread's wall time exceeds its lifetime", async (t) => {
  yappi.start()
  const workers = (['acorn', 'json'] as const).map((library) => runWorker(library, 1000))
  try {
    const reports = await within(Promise.all(workers.map(({ report }) => report)), 20_000, 'the workers reporting')
    const lifetimes = await within(Promise.all(workers.map(async ({ exited, created }) => (await exited, Number(process.hrtime.bigint() - created) / 1e9))), 20_000, 'the workers exiting')
    await yappi.snapshot()
    const threads = yappi.getThreadStats()
    for (const [i, { threadId }] of workers.entries()) {
      const thread = threads.get(threadId)!
      // The profile begins before the worker's first line (Node's bootstrap of the worker comes
      // before it) and ends at its exit: between the two readings of the worker's own clock.
      const { cpuAtFirstLine, cpuAtEnd } = reports[i]
      const ran = cpuAtEnd - cpuAtFirstLine
      t.true(thread.cpuTime >= 0.95 * ran && thread.cpuTime <= 1.05 * cpuAtEnd, `worker ${threadId}: cpuTime ${thread.cpuTime} vs its own clock ${ran} since its first line, ${cpuAtEnd} in all`)
      t.is(thread.cpuTimeEstimated, 0)
      t.true(thread.wallTime <= lifetimes[i], `worker ${threadId}: wall ${thread.wallTime} within its lifetime ${lifetimes[i]}`)
    }
  } finally {
    await Promise.all(workers.map(({ worker }) => worker.terminate()))
  }
})

/** Node's handles take options (Node 26): `stop()` leaves a keeper that keeps V8 logging code. */
const keeperPossible = (() => {
  const start = (v8 as { startCpuProfile?: (options?: object) => unknown }).startCpuProfile
  return typeof start === 'function' && start.length > 0
})()

function hotLoopSessions(t: ExecutionContext, later: StartOptions): void {
  // Warm: the loop is compiled on the stack (OSR) before any profile, and again between sessions.
  hotLoop(200)
  for (let session = 1; session <= 3; session++) {
    yappi.clearStats()
    yappi.start({ threads: false, ...(session > 1 ? later : {}) })
    hotLoop(150)
    const stats = yappi.getFuncStats()
    yappi.stop()
    const hot = stats.find('hotLoop')
    t.truthy(hot, `session ${session}: hotLoop is named`)
    t.true((hot?.tsub ?? 0) > 0.1, `session ${session}: hotLoop self time ${hot?.tsub}`)
    hotLoop(100)
  }
}

test.serial('a hot loop already optimized before start() is named in a second and a third session', (t) => {
  hotLoopSessions(t, {})
})

// The second and third start() discard nothing: they rely on V8's profiler, kept alive by the
// previous stop(), having logged the code optimized between sessions. (Node 26.12 happens to
// name this loop in handle mode even without the keeper; Node 24.22's handles lose it.)
;(keeperPossible ? test.serial : test.skip)('where Node keeps V8\'s profiler between runs, later sessions name a hot loop without deoptimizing', (t) => {
  hotLoopSessions(t, { deoptimize: false })
})

function hotLoop(ms: number): number {
  const start = process.hrtime()
  let sum = 0
  for (;;) {
    for (let k = 0; k < 1000; k++) sum = (sum + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return sum
  }
}
