import test from 'ava'
import { Worker } from 'node:worker_threads'

import * as yappi from '../index'
import { WORKER_FILE, type Task } from './workloads/threads'
import { mixedWorkload } from './workloads/burn'
import { withCallersSelf } from './helpers/callers'

interface Started {
  worker: Worker
  /** Captured at creation: `worker.threadId` reads -1 once the worker has exited. */
  threadId: number
  exited: Promise<number>
  messages: unknown[]
}

/** Starts a worker; its task runs once `go()` is called (see workloads/threads.ts). */
function startWorker(task: Task, name: string, goNow = true): Started & { go: () => void } {
  const worker = new Worker(WORKER_FILE, { workerData: { task }, name })
  const go = (): void => worker.postMessage('go')
  if (goNow) go()
  const messages: unknown[] = []
  worker.on('message', (message) => messages.push(message))
  const exited = new Promise<number>((resolve) => worker.on('exit', resolve))
  return { worker, threadId: worker.threadId, exited, messages, go }
}

function online(worker: Worker): Promise<void> {
  return new Promise((resolve) => worker.once('online', () => resolve()))
}

function mainWork(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

/**
 * For the test that starts the profiler a second time: a loop V8 optimized on the stack (OSR)
 * under an earlier profiler is not named by a later one, so this test spins in its own function.
 */
function mainWorkAfterRestart(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

test.serial('four workers, two started before and two after start(), each measured on its own thread', async (t) => {
  // Long phases: where the machine starves V8's sampler threads, a sample gap that spans the
  // switch from work to rest misplaces time; the longer the phases, the smaller that share.
  const tasks: Task[] = [0, 1, 2, 3].map((index) => ({ work: { index, ms: 600, restMs: 400 } }))
  const early = [0, 1].map((i) => startWorker(tasks[i], `early-${i}`, false))
  await Promise.all(early.map(({ worker }) => online(worker)))
  yappi.start({ intervalUs: 500 })
  await yappi.snapshot()
  for (const { go } of early) go()
  const late = [2, 3].map((i) => startWorker(tasks[i], `late-${i}`))
  mainWork(300)
  const all = [...early, ...late]
  await Promise.all(all.map(({ exited }) => exited))
  const stats = await yappi.snapshot()
  const threads = yappi.getThreadStats()
  yappi.stop()

  // A sample stands for the time until the next: where the sampler was held up (a loaded
  // machine), the time of the longest gap may land on either side of a change of function.
  const gapOf = (threadId: number): number => threads.get(threadId)?.maxSampleGap ?? 0
  const mainStat = stats.find('mainWork')!
  // V8 may charge part of the spin to its caller (a fifth once, Node 22 in CI at load): counted
  // with the caller's self time, the spin's own row still holding most of it.
  const onMain = yappi.getFuncStats({ threadId: 0 })
  const mainTime = withCallersSelf(onMain, 'mainWork')
  const mainFound = `mainWork ${mainStat.ttot} (${mainTime} with its callers' self time), longest sample gap ${gapOf(0)}`
  t.true(mainStat.ttot <= 0.3 + 0.01 + 2 * gapOf(0) && mainTime >= 0.3 - 0.01 - 2 * gapOf(0), mainFound)
  t.true(mainStat.ttot >= 0.15, `the spin is named: ${mainFound}`)
  const report: string[] = []
  for (const [i, { threadId }] of all.entries()) {
    const thread = threads.get(threadId)
    t.truthy(thread, `thread ${threadId} is listed`)
    t.is(thread!.name, i < 2 ? `early-${i}` : `late-${i}`)
    const own = yappi.getFuncStats({ threadId })
    const work = own.find(`work${i}`)
    const rest = own.find('rest')
    t.truthy(work, `work${i} profiled on thread ${threadId}`)
    // 600 ms of work and 400 ms of rest: 60% and 40% of the second the task runs.
    const workShare = (100 * work!.ttot) / 1
    const restShare = (100 * (rest?.ttot ?? 0)) / 1
    report.push(`work${i} ${workShare.toFixed(1)}% rest ${restShare.toFixed(1)}%`)
    // One change of function (work to rest), and the start and end of each: three gaps at most.
    const tolerance = 5 + 100 * 3 * gapOf(threadId)
    t.true(Math.abs(workShare - 60) <= tolerance, `work${i} ${workShare.toFixed(1)}% vs 60% ± ${tolerance.toFixed(1)}`)
    t.true(Math.abs(restShare - 40) <= tolerance, `rest on ${i} ${restShare.toFixed(1)}% vs 40% ± ${tolerance.toFixed(1)}`)
    for (const other of all) {
      if (other.threadId === threadId) continue
      // Only the module's warm-up call (0 ms) runs work${i} elsewhere: a sample may catch it,
      // and one sample stands for up to the longest gap of that thread.
      const elsewhere = yappi.getFuncStats({ threadId: other.threadId }).find(`work${i}`)
      const bound = 0.001 + 2 * gapOf(other.threadId)
      t.true((elsewhere?.ttot ?? 0) <= bound, `work${i} only on its thread, not ${elsewhere?.ttot} s on ${other.threadId} (bound ${bound})`)
    }
  }
  t.log('per-thread shares:', report.join(', '))
  const merged = stats.find('rest')!
  t.true(Math.abs(merged.ttot - 1.6) < 0.2, `rest merged over four threads: ${merged.ttot}`)
})

test.serial('started from a worker, read from main; started from main, stopped and read from a worker', async (t) => {
  const starter = startWorker({ api: 'start', work: { index: 1, ms: 200, restMs: 0 } }, 'starter')
  await starter.exited
  t.true(yappi.isRunning(), 'a worker started the process-wide profiler')
  mainWorkAfterRestart(100)
  const stats = await yappi.snapshot()
  t.true(stats.find('work1')!.ttot > 0.15, 'the starting worker profiled itself')
  t.true(stats.find('mainWorkAfterRestart')!.ttot > 0.08, 'and main')
  t.true(yappi.stop())

  yappi.clearStats()
  yappi.start({ intervalUs: 500 })
  mainWorkAfterRestart(100)
  const stopper = startWorker({ work: { index: 2, ms: 100, restMs: 0 }, api: 'stop' }, 'stopper')
  await stopper.exited
  t.deepEqual(stopper.messages, [{ stopped: true }])
  t.false(yappi.isRunning(), 'a worker stopped it')
  const after = await yappi.snapshot()
  t.true(yappi.getThreadStats().get(0)!.wallTime > 0.08, 'main was profiled until the worker stopped it')
  t.true(after.find('work2')!.ttot > 0.07)
})

test.serial('a nested worker started after start() is profiled', async (t) => {
  yappi.start({ intervalUs: 500 })
  const parent = startWorker({ nested: { work: { index: 0, ms: 200, restMs: 0 } } }, 'parent')
  await parent.exited
  const stats = await yappi.snapshot()
  const nested = yappi.getThreadStats().toArray().find((thread) => thread.name === 'nested')
  t.truthy(nested, 'the grandchild has thread stats')
  t.true(yappi.getFuncStats({ threadId: nested!.id }).find('work0')!.ttot > 0.15, 'its work is on its thread')
  t.true(stats.find('work0')!.ttot > 0.15)
})

test.serial('snapshot() while a worker spins in a tight loop returns within 1 s with its fresh data', async (t) => {
  const spinner = startWorker({ spinMs: 3000 }, 'spinner', false)
  try {
    await online(spinner.worker)
    yappi.start({ intervalUs: 500 })
    await yappi.snapshot()
    spinner.go()
    await new Promise((resolve) => setTimeout(resolve, 400))
    const begin = Date.now()
    const stats = await yappi.snapshot({ threadId: spinner.threadId })
    const took = Date.now() - begin
    t.log(`snapshot took ${took} ms`)
    t.true(took < 1000, `snapshot took ${took} ms`)
    t.true(stats.find('work3')!.ttot > 0.25, `work3 ${stats.find('work3')?.ttot} s while still spinning`)
  } finally {
    await spinner.worker.terminate()
  }
})

test.serial('a worker terminated mid-profile keeps its data; nothing hangs or throws', async (t) => {
  yappi.start({ intervalUs: 500 })
  const victim = startWorker({ spinMs: 5000 }, 'victim')
  // Until the victim has spun a while, as folded: a loaded machine starts workers late.
  let folded = 0
  const deadline = Date.now() + 10_000
  while (folded < 0.2 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    folded = (await yappi.snapshot()).find('work3')?.ttot ?? 0
  }
  t.true(folded >= 0.2, `the victim spun: ${folded} s folded`)
  const rotating = yappi.snapshot()
  await victim.worker.terminate()
  await rotating
  mixedWorkload(50)
  const stats = await yappi.snapshot()
  t.true((stats.find('work3')?.ttot ?? 0) >= folded, `what was folded before the termination stays: ${stats.find('work3')?.ttot} of ${folded} s`)
  t.true(yappi.isRunning())
  t.true(yappi.stop())
})

test.serial('threads: false profiles only the calling thread', async (t) => {
  const bystander = startWorker({ work: { index: 0, ms: 300, restMs: 0 } }, 'bystander')
  yappi.start({ intervalUs: 500, threads: false })
  mainWork(150)
  await bystander.exited
  const stats = await yappi.snapshot()
  yappi.stop()
  t.is(stats.find('work0'), undefined)
  t.deepEqual(yappi.getThreadStats().toArray().map((thread) => thread.id), [0])
})
