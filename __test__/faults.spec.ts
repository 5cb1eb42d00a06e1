import test, { type ExecutionContext } from 'ava'
import { execFile } from 'node:child_process'
import * as path from 'node:path'

import type { Fault } from '../index'

interface Findings {
  result: number
  expected: number
  faults: Fault[]
  [key: string]: unknown
}

const FIXTURE = path.join(__dirname, 'workloads', 'faults.js')

/** Runs a fault scenario in a process of its own: it must finish, and write nothing to stderr. */
function run(scenario: string): Promise<{ findings: Findings; stderr: string; code: number }> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [FIXTURE, scenario], { timeout: 60_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') return reject(error)
      try {
        resolve({ findings: JSON.parse(stdout) as Findings, stderr, code: typeof error?.code === 'number' ? error.code : 0 })
      } catch {
        reject(new Error(`scenario ${scenario} printed no findings; stdout ${stdout}; stderr ${stderr}`))
      }
    })
  })
}

/** Runs a scenario and checks what every fault must leave alone: exit 0, a silent stderr, the app's right result. */
async function runUnharmed(t: ExecutionContext, scenario: string): Promise<Findings> {
  const { findings, stderr, code } = await run(scenario)
  t.is(code, 0)
  t.is(stderr, '')
  t.is(findings.result, findings.expected)
  return findings
}

function where(faults: Fault[], pattern: RegExp): Fault[] {
  return faults.filter((fault) => pattern.test(fault.message))
}

test('failed rotations are recorded; the app runs on and sampling resumes', async (t) => {
  const findings = await runUnharmed(t, 'rotation-error')
  const injected = where(findings.faults, /injected: the rotation failed/)
  t.is(injected.length, 1, JSON.stringify(findings.faults))
  t.deepEqual([injected[0].where, injected[0].count, injected[0].threadId], ['rotate', 3, 0], 'three failures of one kind, counted once')
  // 100 ms of spinning after the failures; where V8's sampler was held up (a loaded machine)
  // the longest gap's time may land before the spin, on either side of it.
  // Half of it at least: after the failures the next profile begins by a message to the thread,
  // which a loaded machine delivers late.
  const least = Math.max(0, 0.05 - 2 * (findings.gap as number))
  t.true((findings.after as number) > least && (findings.after as number) > 0, `sampling resumed: faultSpin ttot ${findings.after}, longest sample gap ${findings.gap}`)
})

test('malformed profiles from the inspector are refused with a named reason, not thrown', async (t) => {
  const findings = await runUnharmed(t, 'malformed-profile')
  t.is(where(findings.faults, /malformed profile: sample \d+ names node id 999999/).length, 1, JSON.stringify(findings.faults))
  t.is(where(findings.faults, /malformed profile: .*(cycle|two parents)/).length, 1, JSON.stringify(findings.faults))
  t.true((findings.after as number) > 0.02, `folding resumed: faultSpin ttot ${findings.after}`)
})

test('a worker terminated during a snapshot: the snapshot resolves and the loss is recorded', async (t) => {
  const findings = await runUnharmed(t, 'worker-gone')
  t.true((findings.snapshotRows as number) > 0)
  const lost = where(findings.faults, /ended without sending its last profile/)
  t.deepEqual(lost.map((fault) => fault.threadId), [findings.doomedThread], JSON.stringify(findings.faults))
  // A snapshot that outlives its deadline on a loaded machine says so honestly; any other fault
  // would mean the worker that exited by itself was taken for lost.
  const besideDeadlines = findings.faults.filter((fault) => fault.where !== 'snapshot')
  t.is(besideDeadlines.length, 1, `the worker that exited by itself is no fault: ${JSON.stringify(findings.faults)}`)
  t.true((findings.finishingWork as number) > 0.1, `the worker that exited by itself kept its data: ${findings.finishingWork}`)
})

test('user callbacks that throw are recorded, not thrown: filters drop the row, a sort keeps the order', async (t) => {
  const findings = await runUnharmed(t, 'callbacks')
  t.is(findings.filtered, 0)
  t.is(findings.byRegExp, 0)
  t.is(findings.byPredicate, 0)
  t.true(findings.orderKept)
  const lengths = findings.sortedByCallback as number[]
  t.deepEqual(lengths, [...lengths].sort((a, b) => a - b), 'a sort key function that works sorts')
  t.deepEqual(
    findings.faults.map((fault) => [fault.where, fault.message]),
    [
      ['filter', 'injected: filter predicate'],
      ['filter', 'injected: RegExp test'],
      ['filter', 'injected: getFuncStats predicate'],
      ['sort', 'injected: sort key'],
    ],
  )
})

test('another inspector session profiling at the same time: both get their data, no fault', async (t) => {
  const findings = await runUnharmed(t, 'other-session-profile')
  // The spin ran 100 ms; a sampler held up (the other core busy) misplaces a gap at either end.
  t.true((findings.ours as number) > 0.05 - 2 * (findings.gap as number), `ours: faultSpin ttot ${findings.ours}, longest sample gap ${findings.gap}`)
  t.true((findings.theirSamples as number) > 20, `theirs: ${findings.theirSamples} samples`)
  t.deepEqual(findings.faults, [])
})

test('another session taking over precise coverage: recorded, and counts turn into estimates', async (t) => {
  const findings = await runUnharmed(t, 'coverage-conflict')
  t.deepEqual(findings.before, [1000, true], 'exact before the conflict')
  t.true((findings.afterRows as number) > 0)
  t.is(findings.afterExact, 0, 'no count is called exact after it')
  const conflict = findings.faults.filter((fault) => fault.where === 'coverage')
  t.is(conflict.length, 1, JSON.stringify(findings.faults))
  t.regex(conflict[0].message, /another inspector session started, took or stopped precise coverage on thread 0/)
})
