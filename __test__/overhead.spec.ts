import test from 'ava'
import { Worker } from 'node:worker_threads'

import * as yappi from '../index'
import { spinA } from './workloads/burn'
import { WORKER_FILE } from './workloads/threads'

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

test.serial('getOverhead() accounts the time spent in profiler calls against the time profiled', (t) => {
  const started = process.hrtime.bigint()
  yappi.start({ threads: false, intervalUs: 500 })
  // Synchronous: no timer rotation can run, so all profiler work happens inside these reads.
  let insideReads = 0n
  for (let i = 0; i < 20; i++) {
    spinA(10)
    const before = process.hrtime.bigint()
    yappi.getFuncStats()
    yappi.getThreadStats()
    insideReads += process.hrtime.bigint() - before
  }
  const live = yappi.getOverhead()
  yappi.stop()
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9
  const reads = Number(insideReads) / 1e9

  const main = live.threads.find((thread) => thread.threadId === 0)!
  t.is(main.name, 'main')
  t.true(main.runTime > 0.2 && main.runTime <= elapsed, `run time ${main.runTime} within ${elapsed}`)
  t.true(main.profilerTime >= 0.5 * reads && main.profilerTime <= reads * 1.05 + 0.002, `profiler time ${main.profilerTime} vs ${reads} measured around the reads`)
  for (const kind of ['inspector', 'fold', 'ingest', 'read'] as const) t.true(main.breakdown[kind] > 0, `${kind} accounted`)
  const sum = Object.values(main.breakdown).reduce((a, b) => a + b, 0)
  t.true(Math.abs(sum - main.profilerTime) < 1e-9)
  t.true(Math.abs(main.percent - (100 * main.profilerTime) / main.runTime) < 1e-9)
  t.is(live.profilerTime, main.profilerTime)

  const after = yappi.getOverhead().threads.find((thread) => thread.threadId === 0)!
  spinA(30)
  t.is(yappi.getOverhead().threads.find((thread) => thread.threadId === 0)!.runTime, after.runTime, 'run time stops with the profiler')
})

test.serial('workers have their own account, including the profiler work done inside them', async (t) => {
  yappi.start({ intervalUs: 500, rotateIntervalMs: 50 })
  const worker = new Worker(WORKER_FILE, { workerData: { task: { work: { index: 2, ms: 200, restMs: 0 } } } })
  const threadId = worker.threadId
  const exited = new Promise((resolve) => worker.on('exit', resolve))
  await yappi.snapshot()
  worker.postMessage('go')
  await exited
  const overhead = yappi.getOverhead()
  const account = overhead.threads.find((thread) => thread.threadId === threadId)!
  t.truthy(account, JSON.stringify(overhead.threads))
  t.true(account.breakdown.inspector > 0, 'console profiles in the worker are accounted to it')
  t.true(account.runTime > 0.15, `worker run time ${account.runTime}`)
  t.true(account.percent > 0 && account.percent < 50)
  const main = overhead.threads.find((thread) => thread.threadId === 0)!
  t.true(main.breakdown.fold > 0, "main folds the worker's profiles")
})
