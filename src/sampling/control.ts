import * as path from 'node:path'
import { BroadcastChannel, isMainThread, threadId, Worker } from 'node:worker_threads'

import { YappiError } from '../errors'
import { recordFault } from '../faults'
import type { BindingEncoded } from '../../binding'
import { native } from '../native'
import type { ResolvedOptions } from '../options'
import { PROFILER_THREAD_NAME } from '../overhead'
import { callMainSync } from './remote'
import { WAKE_CELL, waitInSlices } from './wait'

/**
 * How any thread asks the profiler thread to act: a command over a `BroadcastChannel`, answered
 * in the engine's mailbox (a ticket). A thread that waits for the answer waits in short slices
 * and returns to JavaScript between them, because the profiler thread may need it to answer an
 * inspector message meanwhile (its own profile starts or rotates by evaluation in it), and
 * those are dispatched only when its JavaScript runs.
 */
export const CONTROL_CHANNEL = 'yappi-node:control'

/**
 * Who asks to start or stop: the application, or a tool that profiles it (the command line,
 * an attaching client). A tool's run is the tool's: the application's own `start()` and `stop()`
 * meanwhile join it and leave it running, and say so in `getFaults()`.
 */
export type Requester = 'application' | 'tool'

export type Command =
  | { op: 'start'; ticket: number; from: number; options: ResolvedOptions; by: Requester }
  | { op: 'stop'; ticket: number; from: number; by: Requester }
  | { op: 'rotate'; ticket: number; from: number; threads: number[] | null; deadlineMs: number; maxAgeMs: number }
  | { op: 'settle'; ticket: number; from: number; deadlineMs: number }
  | { op: 'detach'; ticket: number; from: number }
  /** Encodes function stats for the sender (see {@link requestEncodedStats}). */
  | { op: 'encode'; ticket: number; from: number; threads: number[] | undefined; tag: string | undefined }
  /** Hands over the sender's wake cell (see {@link WAKE_CELL}): sent once, before its first command. */
  | { op: 'wake'; ticket: number; from: number; cell: Int32Array }

type Request = Command extends unknown ? DistributiveOmit<Command, 'ticket' | 'from'> : never
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never

export interface Answer {
  ok: boolean
  value?: unknown
  error?: string
}

/** How long a thread waits for the profiler thread to come up. */
const SPAWN_DEADLINE_MS = 10_000

const PROFILER_FILE = path.join(__dirname, 'profiler-thread.js')

let channel: BroadcastChannel | undefined
let spawned: Worker | undefined
/** The profiler thread that has this thread's wake cell. */
let wakeCellHeldBy: number | null = null

function post(command: Command): void {
  if (!channel) {
    channel = new BroadcastChannel(CONTROL_CHANNEL)
    // Never keeps the application alive.
    channel.unref()
  }
  channel.postMessage(command)
}

/**
 * Hands this thread's wake cell to the profiler thread, if that one has not got it yet. Posted
 * on the same channel as the commands, so it arrives before any that follow it.
 */
export function shareWakeCell(): void {
  const profiler = native.profilerThread()
  if (profiler === null || profiler === wakeCellHeldBy) return
  post({ op: 'wake', ticket: 0, from: threadId, cell: WAKE_CELL })
  wakeCellHeldBy = profiler
}

function send(command: Command): void {
  shareWakeCell()
  post(command)
}

/** A copy of the environment without what would make Node profile our own thread too. */
function profilerEnvironment(): NodeJS.ProcessEnv {
  const env = { ...process.env }
  delete env.NODE_V8_COVERAGE
  return env
}

/** Starts the profiler thread (main thread only); it says when it takes requests. */
export function spawnProfilerThread(): void {
  if (!isMainThread) throw new YappiError('the profiler thread is started by the main thread')
  if (spawned || native.profilerThread() !== null) return
  const worker = new Worker(PROFILER_FILE, {
    name: PROFILER_THREAD_NAME,
    // Its own options, not the application's: no --cpu-prof of our thread, no inspector flags.
    execArgv: [],
    env: profilerEnvironment(),
  })
  worker.unref()
  const gone = (error?: unknown): void => {
    if (error !== undefined) recordFault('profiler thread', error, worker.threadId)
    if (spawned === worker) spawned = undefined
    native.setProfilerThread(null)
  }
  worker.on('error', gone)
  worker.on('exit', () => gone())
  spawned = worker
  process.once('exit', detachFromMainThread)
}

/** How long the main thread's exit waits for the profiler thread to close its session. */
const DETACH_DEADLINE_MS = 500

/**
 * At exit, the profiler thread closes its session to the main thread: Node prints "Waiting for
 * the debugger to disconnect..." to stderr when a process exits with a worker's session to the
 * main thread open. The close is carried out on this thread, by the interrupt the slices let in.
 */
function detachFromMainThread(): void {
  try {
    if (native.profilerThread() === null) return
    requestSync({ op: 'detach' }, DETACH_DEADLINE_MS)
    // The session's removal was queued for this thread before the answer: let it run.
    waitInSlices(() => null, 2)
  } catch {
    // Exiting anyway: the worst outcome is Node's line on stderr.
  }
}

/** Makes sure the profiler thread runs (starting it, through the main thread if need be). */
export function ensureProfilerThread(): void {
  if (native.profilerThread() !== null) return
  if (isMainThread) spawnProfilerThread()
  else callMainSync('spawn')
  if (waitInSlices(() => native.profilerThread(), SPAWN_DEADLINE_MS) === undefined) {
    throw new YappiError(`the profiler thread did not start within ${SPAWN_DEADLINE_MS} ms`)
  }
}

function unwrap(request: Request, answer: Answer): unknown {
  if (!answer.ok) throw new YappiError(answer.error ?? `${request.op} failed in the profiler thread`)
  return answer.value
}

/** Sends `request` and waits (in slices) for the answer, up to `deadlineMs`. */
export function requestSync(request: Request, deadlineMs: number): unknown {
  const ticket = native.mailboxTicket()
  send({ ...request, ticket, from: threadId } as Command)
  const answer = waitInSlices(() => native.mailboxWait(ticket, 0), deadlineMs)
  if (answer === undefined) {
    native.mailboxForget(ticket)
    throw new YappiError(`the profiler thread did not answer ${request.op} within ${deadlineMs} ms`)
  }
  return unwrap(request, JSON.parse(answer) as Answer)
}

/** Sends `request` and resolves to the answer without blocking this thread (polling the mailbox). */
export function requestAsync(request: Request, deadlineMs: number): Promise<unknown> {
  const ticket = native.mailboxTicket()
  send({ ...request, ticket, from: threadId } as Command)
  return answerOf(ticket, request, deadlineMs)
}

/**
 * Function stats (`start()`'s, the selected threads, `tag`'s samples only if given) encoded by
 * the profiler thread rather than by this one, which meanwhile goes on with its event loop: the
 * merge and encoding of every function and call edge are most of a read's cost (3.0 of 3.9 ms
 * with 12.5k functions, `benches/RESULTS.md`). Rejects when the profiler thread could not (no
 * memory, too many parcels untaken): the caller encodes itself then.
 */
export async function requestEncodedStats(threads: number[] | undefined, tag: string | undefined, deadlineMs: number): Promise<BindingEncoded> {
  const request: Request = { op: 'encode', threads, tag }
  const ticket = native.mailboxTicket()
  try {
    send({ ...request, ticket, from: threadId } as Command)
    const left = await answerOf(ticket, request, deadlineMs)
    const parcel = left === true ? native.mailboxTakeParcel(ticket) : null
    if (!parcel) throw new YappiError('the profiler thread could not leave the encoded stats (too many untaken): this thread encoded them')
    return parcel
  } finally {
    // A parcel never taken (an error between answer and take) must not stay behind.
    native.mailboxForget(ticket)
  }
}

function answerOf(ticket: number, request: Request, deadlineMs: number): Promise<unknown> {
  const until = Date.now() + deadlineMs
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      try {
        const answer = native.mailboxWait(ticket, 0)
        if (answer !== null) return resolve(unwrap(request, JSON.parse(answer) as Answer))
        if (Date.now() > until) {
          native.mailboxForget(ticket)
          return reject(new YappiError(`the profiler thread did not answer ${request.op} within ${deadlineMs} ms`))
        }
        // Referenced: the caller awaits this answer, so the process must live until it comes.
        setTimeout(poll, 2)
      } catch (error) {
        reject(error)
      }
    }
    poll()
  })
}
