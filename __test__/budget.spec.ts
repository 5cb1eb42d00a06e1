import test from 'ava'

import * as yappi from '../index'

test.afterEach.always(() => {
  yappi.stop()
  yappi.clearStats()
})

const FUNCTIONS = 3000

/** Thousands of distinct functions (each `new Function` is a script of its own), each with a known result. */
function makeFunctions(): ((x: number) => number)[] {
  const functions: ((x: number) => number)[] = []
  for (let i = 0; i < FUNCTIONS; i++) {
    functions.push(new Function('x', `let s = 0; for (let k = 0; k < 2000; k++) s = (s + x * ${i} + k) % 1000003; return s`) as (x: number) => number)
  }
  return functions
}

/** What every function returns, computed apart from them. */
function expected(x: number, i: number): number {
  let s = 0
  for (let k = 0; k < 2000; k++) s = (s + x * i + k) % 1000003
  return s
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

test.serial('a tiny memory budget: the app computes the right result, the stats are partial and say so', async (t) => {
  yappi.clearStats()
  const budget = 64 * 1024
  yappi.start({ maxMemoryBytes: budget, intervalUs: 200, rotateIntervalMs: 10, threads: false })
  const functions = makeFunctions()
  let total = 0
  // A server's shape: work in short turns of the event loop, so the profile rotates between them.
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < FUNCTIONS; i++) {
      total = (total + functions[i](round + 1)) % 1000003
      if (i % 50 === 49) await turn()
    }
  }
  const stats = yappi.getFuncStats()
  const memory = yappi.getMemUsage()
  yappi.stop()

  let truth = 0
  for (let round = 0; round < 3; round++) {
    for (let i = 0; i < FUNCTIONS; i++) truth = (truth + expected(round + 1, i)) % 1000003
  }
  t.is(total, truth, 'the application computed the right result')

  t.is(memory.maxBytes, budget)
  t.true(memory.usedBytes <= budget, `used ${memory.usedBytes} <= ${budget}`)
  t.true(memory.peakBytes <= budget, `peak ${memory.peakBytes} <= ${budget}`)
  t.true(memory.droppedSamples > 0, `dropped samples ${memory.droppedSamples}`)
  t.true(memory.droppedFunctions > 0, `dropped functions ${memory.droppedFunctions}`)
  t.true(memory.functions > 0 && memory.functions < FUNCTIONS, `${memory.functions} of ${FUNCTIONS} functions recorded`)

  t.true(stats.partial)
  t.true(stats.droppedSamples > 0)
  t.true(stats.length > 0 && stats.length < FUNCTIONS, `${stats.length} rows`)
  t.regex(stats.format({ limit: 3 }), /PARTIAL: \d+ samples dropped, the memory budget \(maxMemoryBytes\) was full/)
  t.true(yappi.getThreadStats().get(0)!.droppedSamples > 0)
})

test.serial('within the budget nothing is dropped and the table does not say partial', (t) => {
  yappi.clearStats()
  yappi.start({ intervalUs: 200, threads: false })
  const functions = makeFunctions().slice(0, 200)
  let total = 0
  for (let i = 0; i < functions.length; i++) total += functions[i](1)
  const stats = yappi.getFuncStats()
  yappi.stop()
  t.true(total > 0)
  const memory = yappi.getMemUsage()
  t.is(memory.droppedSamples, 0)
  t.is(memory.droppedFunctions, 0)
  t.true(memory.usedBytes > 0 && memory.usedBytes <= memory.maxBytes)
  t.false(stats.partial)
  t.notRegex(stats.format(), /PARTIAL/)
})
