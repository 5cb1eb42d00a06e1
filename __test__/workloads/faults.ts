// Injects one fault into a live profiler, as a child process of faults.spec.ts: the scenario
// named on the command line runs, and its findings are printed as JSON on stdout. The spec
// checks that the process finished, computed its result, and wrote nothing to stderr.
import { Session } from 'node:inspector'
import { Worker } from 'node:worker_threads'

import * as yappi from '../../index'
import { runCounted } from './counts'
import { WORKER_FILE, type Task } from './threads'

/** The application's own work, with a result the scenario checks. */
function checksum(n: number): number {
  let sum = 0
  for (let i = 1; i <= n; i++) sum = (sum + i * i) % 1_000_003
  return sum
}

let sink = 0

/** Plain JavaScript between clock reads: V8 charges samples inside process.hrtime() (a fast API call) to the caller. */
export function faultSpin(ms: number): number {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < 2000; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return sink
  }
}

const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5))

/** Works in turns of the event loop for `ms`, so timer rotations run in between. */
async function appWork(ms: number): Promise<number> {
  const until = Date.now() + ms
  let result = 0
  while (Date.now() < until) {
    result = checksum(20_000)
    await turn()
  }
  return result
}

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  /** Three rotations in a row fail (injected into the profiler thread). */
  async 'rotation-error'() {
    process.env.YAPPI_NODE_INJECT_FAULTS = JSON.stringify({ failRotations: 3 })
    yappi.start({ threads: false, intervalUs: 500, rotateIntervalMs: 20 })
    const result = await appWork(150)
    const during = yappi.getFuncStats().length
    faultSpin(100)
    const after = yappi.getFuncStats().find('faultSpin')?.ttot ?? 0
    const gap = yappi.getThreadStats().get(0)?.maxSampleGap ?? 0
    yappi.stop()
    return { result, during, after, gap }
  },

  /** Profiles that contradict themselves reach the engine: a sample of a missing node, a node with two parents. */
  async 'malformed-profile'() {
    process.env.YAPPI_NODE_INJECT_FAULTS = JSON.stringify({ corruptProfiles: ['missing-node', 'two-parents'] })
    yappi.start({ threads: false, intervalUs: 500, rotateIntervalMs: 20 })
    let result = await appWork(150)
    // A loaded machine may run fewer rotations: work on until both corruptions were served.
    const corrupted = (): number => yappi.getFaults().faults.filter((fault) => fault.where === 'fold').length
    for (let turns = 0; corrupted() < 2 && turns < 100; turns++) result = await appWork(50)
    faultSpin(100)
    const after = yappi.getFuncStats().find('faultSpin')?.ttot ?? 0
    yappi.stop()
    return { result, after }
  },

  /** One worker is terminated while a snapshot waits for it; another exits by itself. */
  async 'worker-gone'() {
    yappi.start({ intervalUs: 500, rotateIntervalMs: 50 })
    const spawn = (task: Task): { worker: Worker; threadId: number; exited: Promise<number> } => {
      const worker = new Worker(WORKER_FILE, { workerData: { task } })
      const exited = new Promise<number>((resolve) => worker.on('exit', resolve))
      worker.postMessage('go')
      return { worker, threadId: worker.threadId, exited }
    }
    const doomed = spawn({ spinMs: 10_000 })
    const finishing = spawn({ work: { index: 1, ms: 150, restMs: 0 } })
    // Both attached and profiling before the fault (a loaded machine may take a while): the
    // doomed worker has folded a profile, so it was sampling when it is terminated.
    await yappi.snapshot()
    for (let turns = 0; !yappi.getThreadStats().get(doomed.threadId) && turns < 100; turns++) {
      await appWork(20)
      await yappi.snapshot()
    }
    await appWork(200)
    const reading = yappi.snapshot()
    await doomed.worker.terminate()
    const stats = await reading
    await finishing.exited
    const result = await appWork(50)
    yappi.stop()
    const final = await yappi.snapshot()
    return {
      result,
      doomedThread: doomed.threadId,
      snapshotRows: stats.length,
      finishingWork: final.find('work1')?.ttot ?? 0,
    }
  },

  /** User callbacks that throw: filter predicates, a RegExp whose test throws, a sort key. */
  async callbacks() {
    yappi.start({ threads: false, intervalUs: 500 })
    const result = await appWork(100)
    faultSpin(50)
    yappi.stop()
    const stats = yappi.getFuncStats()
    const before = stats.toArray().map((stat) => stat.name)
    const filtered = stats.filter(() => {
      throw new Error('injected: filter predicate')
    }).length
    class ThrowingRegExp extends RegExp {
      override test(): boolean {
        throw new Error('injected: RegExp test')
      }
    }
    const byRegExp = yappi.getFuncStats({ name: new ThrowingRegExp('x') }).length
    const byPredicate = yappi.getFuncStats(() => {
      throw new Error('injected: getFuncStats predicate')
    }).length
    let keyCalls = 0
    stats.sort((stat) => {
      if (keyCalls++ === 1) throw new Error('injected: sort key')
      return stat.ttot
    })
    const after = stats.toArray().map((stat) => stat.name)
    const sortedByCallback = stats.sort((stat) => stat.name.length, 'asc').toArray().map((stat) => stat.name.length)
    return { result, filtered, byRegExp, byPredicate, orderKept: JSON.stringify(before) === JSON.stringify(after), sortedByCallback }
  },

  /** Exact counts run; then another session starts and stops precise coverage of its own. */
  async 'coverage-conflict'() {
    yappi.start({ threads: false, counts: 'exact' })
    runCounted()
    const before = yappi.getFuncStats().find('calledThousand')
    const session = new Session()
    session.connect()
    session.post('Profiler.enable')
    session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: false })
    runCounted()
    session.post('Profiler.stopPreciseCoverage')
    session.disconnect()
    const result = await appWork(50)
    const after = yappi.getFuncStats()
    yappi.stop()
    return {
      result,
      before: [before?.ncall, before?.callsExact],
      afterExact: after.toArray().filter((stat) => stat.callsExact).length,
      afterRows: after.length,
    }
  },

  /** The application runs a CPU profile of its own on another inspector session meanwhile. */
  async 'other-session-profile'() {
    const session = new Session()
    session.connect()
    const post = (method: string): unknown => {
      let answer: unknown
      session.post(method, (error, result) => {
        if (error) throw error
        answer = result
      })
      return answer
    }
    post('Profiler.enable')
    post('Profiler.start')
    yappi.start({ threads: false, intervalUs: 500 })
    faultSpin(100)
    const { profile } = post('Profiler.stop') as { profile: { samples: number[] } }
    const result = await appWork(50)
    const ours = yappi.getFuncStats().find('faultSpin')?.ttot ?? 0
    const gap = yappi.getThreadStats().get(0)?.maxSampleGap ?? 0
    yappi.stop()
    session.disconnect()
    return { result, ours, gap, theirSamples: profile.samples.length }
  },
}

async function main(): Promise<void> {
  const name = process.argv[2]
  const scenario = scenarios[name]
  if (!scenario) throw new Error(`unknown scenario ${name}`)
  const findings = await scenario()
  process.stdout.write(`${JSON.stringify({ ...findings, expected: checksum(20_000), faults: yappi.getFaults().faults })}\n`)
}

if (require.main === module) void main()
