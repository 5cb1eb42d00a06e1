import test from 'ava'
import { Worker, threadId } from 'node:worker_threads'

import * as yappi from '../index'
import { recordFault } from '../src/faults'
import { spinA } from './workloads/burn'

test.afterEach.always(() => {
  yappi.stop()
  yappi.clearStats()
  yappi.clearFaults()
})

test.serial('faults of one kind are counted in one entry that keeps the first one’s text, time and thread', (t) => {
  yappi.clearFaults()
  const before = Date.now()
  for (let worker = 1; worker <= 150; worker++) {
    recordFault(`worker ${worker}`, new Error(`worker ${worker} ended without sending its last profile`), worker)
  }
  const { faults, dropped } = yappi.getFaults()
  t.is(dropped, 0)
  t.is(faults.length, 1)
  const [fault] = faults
  t.is(fault.where, 'worker 1')
  t.is(fault.message, 'worker 1 ended without sending its last profile')
  t.is(fault.count, 150)
  t.is(fault.threadId, 1)
  t.is(fault.lastThreadId, 150)
  t.true(fault.time >= before && fault.lastTime >= fault.time)
  recordFault('rotate', 'a string, not an Error')
  t.like(yappi.getFaults().faults[1], { where: 'rotate', message: 'a string, not an Error', count: 1, threadId })
})

test.serial('past 100 kinds the one seen least recently goes: a fault that keeps coming back stays listed', async (t) => {
  yappi.clearFaults()
  recordFault('worker 3', new Error('worker 3 was terminated'), 3)
  for (let kind = 0; kind < 150; kind++) {
    // One millisecond apart at least, so "least recently" is a matter of time, not of ties.
    await new Promise((resolve) => setTimeout(resolve, kind % 10 === 0 ? 1 : 0))
    recordFault(`kind ${'x'.repeat(kind % 10)}${String.fromCharCode(97 + (kind % 26))}${String.fromCharCode(97 + Math.floor(kind / 26))}`, new Error('distinct'))
    if (kind % 20 === 0) recordFault('worker 9', new Error('worker 9 was terminated'), 9)
  }
  const { faults, dropped } = yappi.getFaults()
  t.is(faults.length, 100)
  t.is(dropped, 51, '151 kinds (150 distinct, one recurring) of which 100 are kept: 51 let go, one fault each')
  const recurring = faults.find((fault) => fault.message === 'worker 3 was terminated')
  t.like(recurring, { where: 'worker 3', threadId: 3, lastThreadId: 9, count: 9 })
  t.true(recurring!.lastTime > recurring!.time)
})

test.serial('a recordFault that cannot read its error still records, and never throws', (t) => {
  yappi.clearFaults()
  const unprintable = { toString: () => { throw new Error('no') } }
  t.notThrows(() => recordFault('tags', unprintable))
  t.notThrows(() => recordFault('tags', Object.create(null)))
  t.deepEqual(yappi.getFaults().faults.map((fault) => fault.message), ['an error that cannot be printed'])
  t.is(yappi.getFaults().faults[0].count, 2)
})

const WAITS_THEN_SPINS = `
const { parentPort } = require('node:worker_threads')
parentPort.postMessage('running')
const end = Date.now() + 30000
let x = 0
while (Date.now() < end) x += Math.sqrt(x + 1)
`

test.serial('terminated workers make one counted fault naming a worker; earlier faults of other kinds stay', async (t) => {
  yappi.start({ rotateIntervalMs: 50 })
  spinA(20)
  yappi.getFuncStats().sort(() => {
    throw new Error('an earlier fault')
  })
  const terminated: number[] = []
  const workers: Worker[] = []
  try {
    for (let i = 0; i < 8; i++) {
      const worker = new Worker(WAITS_THEN_SPINS, { eval: true })
      workers.push(worker)
      const running = new Promise((resolve, reject) => {
        worker.once('message', resolve)
        worker.once('error', reject)
        setTimeout(() => reject(new Error(`worker ${i} did not start within 20 s`)), 20_000).unref()
      })
      await running
      terminated.push(worker.threadId)
      await worker.terminate()
    }
    await yappi.snapshot()
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()))
  }
  const { faults } = yappi.getFaults()
  t.truthy(faults.find((fault) => fault.where === 'sort' && fault.message === 'an earlier fault'), JSON.stringify(faults))
  const lost = faults.filter((fault) => /ended without sending its last profile \(terminated, out of memory, or exited during a rotation\)/.test(fault.message))
  t.is(lost.length, 1, JSON.stringify(faults))
  t.true(lost[0].count >= 1 && lost[0].count <= terminated.length, `${lost[0].count} of ${terminated.length}`)
  t.true(terminated.includes(lost[0].threadId) && terminated.includes(lost[0].lastThreadId), `${lost[0].threadId} in ${terminated}`)
  t.true(faults.every((fault) => fault.count >= 1 && Number.isInteger(fault.threadId)))
})
