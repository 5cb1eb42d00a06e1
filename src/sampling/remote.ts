import { Session } from 'node:inspector'

import { YappiError } from '../errors'
import { native } from '../native'
import { waitInSlices } from './wait'

/**
 * What only the main thread can do for a worker: start the profiler thread (a worker that
 * started it would take it along when it exits). The worker evaluates a call of `serveWorker`
 * in this package on main through `connectToMainThread()`, which runs by interrupt even while
 * main is busy, and waits for the answer in the engine's mailbox.
 */
export const MAIN_ANSWER_TIMEOUT_MS = 10_000

export type RemoteOp = 'spawn'

export interface RemoteAnswer {
  ok: boolean
  value?: unknown
  error?: string
}

// The compiled api module, required on main by absolute path (the inspector's command-line
// API provides `require` to evaluated code).
const API_MODULE = require.resolve('../api')

let session: Session | undefined

function mainSession(): Session {
  if (!session) {
    session = new Session()
    session.connectToMainThread()
  }
  return session
}

/** Runs `op` on the main thread and waits for it to be done. */
export function callMainSync(op: RemoteOp): unknown {
  const ticket = native.mailboxTicket()
  const expression = `require(${JSON.stringify(API_MODULE)}).serveWorker(${ticket}, ${JSON.stringify(op)})`
  mainSession().post('Runtime.evaluate', { expression, includeCommandLineAPI: true })
  const answer = waitInSlices(() => native.mailboxWait(ticket, 0), MAIN_ANSWER_TIMEOUT_MS)
  if (answer === undefined) {
    native.mailboxForget(ticket)
    throw new YappiError(`the main thread did not carry out ${op} within ${MAIN_ANSWER_TIMEOUT_MS} ms`)
  }
  const parsed = JSON.parse(answer) as RemoteAnswer
  if (!parsed.ok) throw new YappiError(parsed.error ?? `${op} failed on the main thread`)
  return parsed.value
}
