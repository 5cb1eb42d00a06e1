// An application run under other tools (--cpu-prof, NODE_V8_COVERAGE) and under stress, as a
// child process of host.spec.ts. Prints its findings as JSON on stdout; nothing of ours may
// reach stderr.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads'

import * as yappi from '../../index'
import { withCallersSelf } from '../helpers/callers'

export function counted(i: number): number {
  return (i * 7) % 13
}

export function spinMain(ms: number): number {
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}

export function spinWorker(ms: number): number {
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) x += Math.sqrt(x + 1)
  return x
}

export const COUNTED_CALLS = 777
export const SPIN_MS = 300

/**
 * One line per step on stdout, so the test can tell a scenario that a loaded machine slows down
 * (it goes on printing) from one that hangs (it stops). The findings are the last line.
 */
function progress(step: string): void {
  process.stdout.write(`${JSON.stringify({ progress: step })}\n`)
}

const exited = (worker: Worker): Promise<number> => new Promise((resolve) => worker.once('exit', resolve))

const scenarios: Record<string, () => Promise<Record<string, unknown>>> = {
  /**
   * Profiled with two workers while another tool watches; ends by `process.exit` when asked.
   * Beside another tool, Node < 24.12 rotates through the protocol, which restarts V8's profiler
   * and loses the name of a loop running across the rotation (README, Limits): the read comes
   * once the workers have spun, and no timed rotation falls within the spins.
   */
  async 'beside-tools'() {
    yappi.start({ rotateIntervalMs: 60_000 })
    const workers = [0, 1].map(() => new Worker(__filename, { workerData: { spin: SPIN_MS, hold: true } }))
    const spun = workers.map((worker) => new Promise((resolve) => worker.once('message', resolve)))
    const exits = workers.map(exited)
    let sum = 0
    for (let i = 0; i < COUNTED_CALLS; i++) sum += counted(i)
    spinMain(SPIN_MS)
    // A worker that fails before it spins exits: the wait ends with it.
    await Promise.all(spun.map((told, i) => Promise.race([told, exits[i]])))
    yappi.getFuncStats()
    for (const worker of workers) worker.postMessage('leave')
    await Promise.all(exits)
    const stats = await yappi.snapshot()
    yappi.stop()
    const threads = [...yappi.getThreadStats()]
    const gaps = threads.map((thread) => ({ id: thread.id, gap: thread.maxSampleGap }))
    return {
      sum,
      // Where each thread's time went, for a failure's message: its heaviest rows (self/total).
      rows: Object.fromEntries(
        threads.map((thread) => [thread.id, [...yappi.getFuncStats({ threadId: thread.id }).sort('tsub', 'desc')].slice(0, 4).map((row) => `${row.name} ${row.tsub.toFixed(3)}/${row.ttot.toFixed(3)}`)]),
      ),
      spinMain: stats.find('spinMain')?.ttot ?? 0,
      spinWorker: stats.find('spinWorker')?.ttot ?? 0,
      spinMainAndCaller: withCallersSelf(stats, 'spinMain'),
      spinWorkerAndCaller: withCallersSelf(stats, 'spinWorker'),
      gapMain: gaps.find(({ id }) => id === 0)?.gap ?? 0,
      gapWorkers: gaps.filter(({ id }) => id !== 0).reduce((sum, { gap }) => sum + gap, 0),
    }
  },

  /**
   * Exact counts, then stop() while one worker exits by itself and another is terminated, with
   * a third busy in a loop: the process must finish, with no unhandled rejection.
   */
  async 'stop-while-workers-end'() {
    let rejections = 0
    process.on('unhandledRejection', () => rejections++)
    for (let round = 0; round < 20; round++) {
      yappi.clearStats()
      yappi.start({ counts: 'exact' })
      const leaving = new Worker(__filename, { workerData: { spin: 20 } })
      const doomed = new Worker(__filename, { workerData: { spin: 5000 } })
      const busy = new Worker(__filename, { workerData: { spin: 200 } })
      await new Promise((resolve) => setTimeout(resolve, 30))
      const terminated = doomed.terminate()
      yappi.stop()
      await Promise.all([terminated, exited(leaving), exited(busy)])
      await yappi.snapshot()
      progress(`round ${round}`)
    }
    return { rejections }
  },

  /**
   * Random calls from random threads while workers are created, leave by themselves and are
   * terminated, with exact counts in the mix. Each call has a deadline: one that passes is a hang.
   */
  async storm() {
    const calls = Number(process.argv[4] ?? 600)
    const seed = Number(process.argv[5] ?? Date.now() % 1e9)
    const random = generator(seed)
    let rejections = 0
    process.on('unhandledRejection', () => rejections++)
    const failures: string[] = []
    const hangs: string[] = []
    let refused = 0
    let terminated = 0
    let nextId = 0
    const servants: Worker[] = []
    const pending = new Map<number, (answer: { outcome?: CallOutcome; rejections: number }) => void>()
    const workerRejections = new Map<Worker, number>()
    const hire = (): void => {
      const worker = new Worker(__filename, { workerData: { servant: true } })
      worker.on('message', (answer: { id: number; outcome?: CallOutcome; rejections: number }) => {
        workerRejections.set(worker, answer.rejections)
        pending.get(answer.id)?.(answer)
      })
      worker.on('error', (error) => failures.push(`servant: ${String(error)}`))
      servants.push(worker)
    }
    const ask = (worker: Worker, op: StormOp | 'leave'): Promise<{ outcome?: CallOutcome } | undefined> => {
      const id = nextId++
      return new Promise((resolve) => {
        const deadline = setTimeout(() => {
          pending.delete(id)
          hangs.push(`${op} in thread ${worker.threadId}`)
          resolve(undefined)
        }, STORM_CALL_DEADLINE_MS)
        const settle = (answer?: { outcome?: CallOutcome }): void => {
          clearTimeout(deadline)
          pending.delete(id)
          worker.off('exit', gone)
          resolve(answer)
        }
        // A terminated servant answers nothing, and that is no hang.
        const gone = (): void => settle(undefined)
        pending.set(id, settle)
        worker.once('exit', gone)
        worker.postMessage({ op, id })
      })
    }
    const tally = (outcome: CallOutcome | undefined, where: string): void => {
      if (outcome?.refused) refused++
      if (outcome?.failed) failures.push(`${where}: ${outcome.failed}`)
    }
    for (let i = 0; i < 3; i++) hire()
    try {
      for (let call = 0; call < calls; call++) {
        if (call % 20 === 0) progress(`call ${call}`)
        const dice = random()
        if (dice < 0.05 && servants.length < 6) hire()
        else if (dice < 0.08 && servants.length > 1) {
          const [doomed] = servants.splice(Math.floor(random() * servants.length), 1)
          terminated++
          await doomed.terminate()
        } else if (dice < 0.1 && servants.length > 1) {
          const [leaving] = servants.splice(Math.floor(random() * servants.length), 1)
          const answer = (await ask(leaving, 'leave')) as { rejections?: number } | undefined
          rejections += answer?.rejections ?? 0
          workerRejections.delete(leaving)
        } else {
          const op = STORM_OPS[Math.floor(random() * STORM_OPS.length)]
          const thread = Math.floor(random() * (servants.length + 1))
          if (thread === servants.length) tally(await callYappi(op), `main ${op}`)
          else tally((await ask(servants[thread], op))?.outcome, `thread ${servants[thread].threadId} ${op}`)
        }
      }
    } finally {
      progress('dismissing the servants')
      for (const worker of servants) {
        const answer = (await ask(worker, 'leave')) as { rejections?: number } | undefined
        rejections += answer?.rejections ?? 0
        workerRejections.delete(worker)
      }
      yappi.stop()
    }
    for (const count of workerRejections.values()) rejections += count
    const lostRotations = yappi.getFaults().faults.filter((fault) => fault.where === 'rotate' || fault.where === 'fold')
    return { seed, calls, refused, terminated, rejections, failures, hangs, lostRotations }
  },
}

/** What a thread did with the calls it was given. */
interface CallOutcome {
  /** A YappiError: a refused call (e.g. start() while running), part of the API. */
  refused?: string
  /** Anything else that was thrown: a bug. */
  failed?: string
}

const STORM_OPS = ['start', 'start exact', 'start this thread', 'stop', 'getFuncStats', 'snapshot', 'clearStats', 'getThreadStats', 'read fresh'] as const
type StormOp = (typeof STORM_OPS)[number]

async function callYappi(op: StormOp): Promise<CallOutcome> {
  try {
    if (op === 'start') yappi.start()
    else if (op === 'start exact') yappi.start({ counts: 'exact' })
    else if (op === 'start this thread') yappi.start({ threads: false })
    else if (op === 'stop') yappi.stop()
    else if (op === 'getFuncStats') yappi.getFuncStats({ maxAgeMs: 50 })
    else if (op === 'read fresh') yappi.getFuncStats()
    else if (op === 'snapshot') await yappi.snapshot()
    else if (op === 'clearStats') yappi.clearStats()
    else yappi.getThreadStats()
    for (let i = 0; i < 50; i++) counted(i)
    return {}
  } catch (error) {
    return error instanceof yappi.YappiError ? { refused: error.message } : { failed: String((error as Error)?.stack ?? error) }
  }
}

/** A worker of the storm: runs the calls it is sent, spins between them, and can be told to leave. */
function servant(): void {
  let rejections = 0
  process.on('unhandledRejection', () => rejections++)
  parentPort?.on('message', (message: { op: StormOp | 'leave'; id: number }) => {
    if (message.op === 'leave') {
      parentPort?.postMessage({ id: message.id, rejections })
      parentPort?.close()
      return
    }
    spinWorker(1 + (message.id % 5))
    void callYappi(message.op).then((outcome) => parentPort?.postMessage({ id: message.id, outcome, rejections }))
  })
}

/** A small deterministic generator, so that a failing storm can be replayed by its seed. */
function generator(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state)
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 2 ** 32
  }
}

const STORM_CALL_DEADLINE_MS = 20_000

async function main(): Promise<void> {
  const scenario = scenarios[process.argv[2]]
  if (!scenario) throw new Error(`unknown scenario ${process.argv[2]}`)
  const findings = await scenario()
  process.stdout.write(`${JSON.stringify({ ...findings, faults: yappi.getFaults().faults })}\n`)
  if (process.argv[3] === 'exit') process.exit(0)
}

if (isMainThread && require.main === module) void main()
if (!isMainThread && workerData?.servant) servant()
if (!isMainThread && workerData?.spin) {
  spinWorker(workerData.spin as number)
  if (workerData.hold) {
    parentPort?.postMessage('spun')
    parentPort?.once('message', () => parentPort?.close())
  } else parentPort?.close()
}
