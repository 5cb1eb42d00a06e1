import test from 'ava'
import { Worker } from 'node:worker_threads'

import * as yappi from '../index'
import { recurse } from './workloads/burn'
import { COUNTS_WORKER_FILE, oneLongCall, runCounted } from './workloads/counts'

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
  // Long enough for samples even where the sampler is starved (the other core busy).
  const until = Date.now() + 100
  while (Date.now() < until) runCounted()
  yappi.stop()
  const stats = yappi.getFuncStats()
  t.true(stats.length > 0)
  const exact = stats.toArray().filter((stat) => stat.callsExact || stat.nactualcallExact)
  t.deepEqual(exact.map((stat) => `${stat.name} ${stat.ncall} ${stat.kind}`), [])
  const table = stats.format({ columns: ['name', 'ncall', 'nactualcall'] })
  t.regex(table, /ncall~: estimated from samples/)
  t.regex(table, /^name\s+ncall~\s+nactualcall~$/m)
})

test.serial('a worker counts exactly while it runs; once it exits, counts that include it are estimates', async (t) => {
  yappi.clearStats()
  yappi.clearFaults()
  yappi.start({ counts: 'exact' })
  const worker = new Worker(COUNTS_WORKER_FILE, { workerData: { counted: true } })
  // The worker exits when told to, after the first assertions: a failed one must not leave it
  // running (and the test process with it).
  try {
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
    t.regex(yappi.getFaults().faults.map((fault) => fault.message).join('\n'), new RegExp(`\\(thread ${threadId}\\) exited while counting calls`))
  } finally {
    await worker.terminate()
  }
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

test.serial('exact counts of a minified, source-mapped library land on its original functions, beside their times', async (t) => {
  const { marked } = await import('marked')
  const document = '# Title\n\nSome *text* with `code` and a [link](http://127.0.0.1/).\n\n- a\n- b\n\n'.repeat(40)
  marked.parse(document)
  yappi.clearStats()
  yappi.start({ counts: 'exact', threads: false })
  for (let i = 0; i < 137; i++) marked.parse(document)
  yappi.stop()
  const stats = yappi.getFuncStats({ module: /[/\\]marked[/\\]/ })
  // `marked.parse` is `marked` (src/marked.ts), the bundle's minified `x` (lib/marked.esm.js).
  const rows = stats.filter({ name: 'marked' }).toArray()
  t.is(rows.length, 1, rows.map((row) => `${row.module}:${row.line}`).join(', '))
  const [row] = rows
  t.regex(row.module, /marked[/\\]src[/\\]marked\.ts$/)
  t.is(row.ncall, 137)
  t.true(row.callsExact)
  t.true(row.ttot > 0 && row.samplesTotal > 0, `its time is on the same row: ttot ${row.ttot}, ${row.samplesTotal} samples`)
  t.deepEqual(
    stats.toArray().filter((stat) => stat.module.endsWith('marked.esm.js')).map((stat) => `${stat.name}:${stat.line}:${stat.column} ${stat.ncall}`),
    [],
    'no count is left at the compiled positions',
  )
})

/** Calls of each function in `counted` on one run of {@link runCounted}. */
const PER_RUN = Object.fromEntries(KNOWN)

test.serial('estimated counts never exceed the true calls: long single calls, many short calls, recursion', async (t) => {
  yappi.clearStats()
  // Rotations every 50 ms, and a read in the middle of main's long call: calls span profiles.
  yappi.start({ intervalUs: 200, rotateIntervalMs: 50 })
  const worker = new Worker(COUNTS_WORKER_FILE, { workerData: { counted: true } })
  const threadId = worker.threadId
  try {
    await new Promise((resolve) => worker.once('online', resolve))
    await yappi.snapshot()
    const done = new Promise((resolve) => worker.once('message', resolve))
    worker.postMessage(600)
    oneLongCall(600, () => yappi.getFuncStats())
    const runs = 40
    for (let i = 0; i < runs; i++) runCounted()
    for (let i = 0; i < 5; i++) recurse(20, 2)
    let deadline: NodeJS.Timeout | undefined
    await Promise.race([done, new Promise((_, reject) => (deadline = setTimeout(() => reject(new Error('the worker did not finish its call in 20 s')), 20_000)))])
    clearTimeout(deadline)
    yappi.stop()
    await yappi.snapshot()

    const truth: [number, Record<string, number>][] = [
      [0, { oneLongCall: 1, longCall: 1, runCounted: runs, recurse: 100, spinA: 100, ...Object.fromEntries(Object.entries(PER_RUN).map(([name, calls]) => [name, calls * runs])) }],
      [threadId, { oneLongCall: 1, longCall: 1 }],
    ]
    for (const [thread, calls] of truth) {
      const stats = yappi.getFuncStats({ threadId: thread })
      const seen = Object.entries(calls).map(([name, real]) => [name, stats.find(name)?.ncall ?? 0, real] as const)
      t.log(`thread ${thread}:`, seen.map(([name, estimate, real]) => `${name} ${estimate}/${real}`).join(', '))
      for (const [name, estimate, real] of seen) t.true(estimate <= real, `thread ${thread}: ${name} ncall~ ${estimate} > ${real} real calls`)
      for (const name of ['oneLongCall', 'longCall']) t.is(stats.find(name)?.ncall, 1, `thread ${thread}: the long call is seen once`)
      t.true(stats.toArray().every((stat) => !stat.tavgExact), 'tavg from estimated counts is an estimate')
      t.regex(stats.format({ columns: ['name', 'ncall', 'tavg'] }), /^name\s+ncall~\s+tavg~$/m)
    }
    t.true(yappi.getFuncStats({ threadId: 0 }).find('recurse')!.ncall >= 5, 'recursion is seen')
  } finally {
    await worker.terminate()
  }
})
