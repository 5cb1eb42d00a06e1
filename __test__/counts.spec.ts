import test from 'ava'
import { Worker } from 'node:worker_threads'

import * as yappi from '../index'
import { COUNTS_WORKER_FILE, runCounted } from './workloads/counts'

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

const KNOWN: [string, number][] = [
  ['calledThousand', 1000],
  ['calledThirtySeven', 37],
  ['calledFive', 5],
  ['calledOnce', 1],
  ['countDown', 12],
]

function callsOf(stats: yappi.FuncStats): Record<string, [number, boolean]> {
  return Object.fromEntries(KNOWN.map(([name]) => [name, [stats.find(name)?.ncall ?? -1, stats.find(name)?.callsExact ?? false]]))
}

test.serial("counts: 'exact' counts every call, and says so", (t) => {
  yappi.clearStats()
  yappi.start({ counts: 'exact', threads: false })
  const sum = runCounted()
  const live = yappi.getFuncStats()
  yappi.stop()
  const stats = yappi.getFuncStats()
  t.true(sum > 0)
  const expected = Object.fromEntries(KNOWN.map(([name, calls]) => [name, [calls, true]]))
  t.deepEqual(callsOf(live), expected, 'read while running')
  t.deepEqual(callsOf(stats), expected, 'read after stop')

  const once = stats.find('calledOnce')!
  t.true(once.nactualcallExact)
  t.is(once.nactualcall, 1)
  t.is(stats.find('calledFive')!.nactualcall, 5, 'no recursion seen: every call is an outer one')
  t.true(stats.find('countDown')!.nactualcall >= 3)

  const table = stats.filter({ name: /^called|^countDown$/ }).sort('ncall').format({ columns: ['name', 'ncall', 'ttot'] })
  t.regex(table, /exact call counts/)
  t.regex(table, /^name\s+ncall\s+ttot$/m)
  t.regex(table, /^calledThousand\s+1000\s/m)
  t.regex(table, /^calledFive\s+5\s/m)
  t.notRegex(table, /~/)
})

test.serial('estimated counts are labelled as estimates', (t) => {
  yappi.clearStats()
  yappi.start({ threads: false, intervalUs: 200 })
  runCounted()
  for (let i = 0; i < 50; i++) runCounted()
  yappi.stop()
  const stats = yappi.getFuncStats()
  t.true(stats.length > 0)
  t.true(stats.toArray().every((stat) => !stat.callsExact && !stat.nactualcallExact))
  const table = stats.format({ columns: ['name', 'ncall', 'nactualcall'] })
  t.regex(table, /ncall~: estimated from samples/)
  t.regex(table, /^name\s+ncall~\s+nactualcall~$/m)
})

test.serial('a worker counts exactly while it runs; once it exits, counts that include it are estimates', async (t) => {
  yappi.clearStats()
  yappi.clearFaults()
  yappi.start({ counts: 'exact' })
  const worker = new Worker(COUNTS_WORKER_FILE, { workerData: { counted: true } })
  const threadId = worker.threadId
  const done = new Promise((resolve) => worker.once('message', resolve))
  await new Promise((resolve) => worker.once('online', resolve))
  await yappi.snapshot()
  worker.postMessage('go')
  await done
  const stats = await yappi.snapshot({ threadId })
  const expected = Object.fromEntries(KNOWN.map(([name, calls]) => [name, [calls, true]]))
  t.deepEqual(callsOf(stats), expected)

  runCounted()
  t.deepEqual(callsOf(yappi.getFuncStats({ threadId: 0 })), expected, 'main counts on its own')
  const exited = new Promise((resolve) => worker.once('exit', resolve))
  worker.postMessage('exit')
  await exited
  await yappi.snapshot()
  t.true(yappi.getFuncStats({ threadId: [0, threadId] }).toArray().every((stat) => !stat.callsExact), 'the exited worker lost its last calls')
  t.deepEqual(callsOf(yappi.getFuncStats({ threadId: 0 })), expected, 'main alone is still exact')
  t.regex(yappi.getFaults().faults.map((fault) => fault.message).join('\n'), new RegExp(`worker ${threadId} exited while counting calls`))
})

test.serial('the counts mode changes only after clearStats; NODE_V8_COVERAGE refuses exact counts', (t) => {
  yappi.clearStats()
  yappi.start({ threads: false })
  runCounted()
  yappi.stop()
  t.throws(() => yappi.start({ counts: 'exact', threads: false }), { instanceOf: yappi.YappiError, message: /estimated call counts; call clearStats\(\) before starting with counts: 'exact'/ })
  t.false(yappi.isRunning())
  yappi.clearStats()
  process.env.NODE_V8_COVERAGE = '/tmp/coverage'
  try {
    t.throws(() => yappi.start({ counts: 'exact' }), { instanceOf: yappi.YappiError, message: /^counts: 'exact' is refused while NODE_V8_COVERAGE is set/ })
  } finally {
    delete process.env.NODE_V8_COVERAGE
  }
  t.throws(() => yappi.start({ counts: 'precise' as yappi.CountsMode }), { instanceOf: yappi.YappiError, message: /^counts must be 'estimated' or 'exact', not "precise"$/ })
  t.false(yappi.isRunning())
})
