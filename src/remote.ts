import { Session } from 'node:inspector'

import { YappiError } from './errors'
import { native } from './native'

/**
 * A worker asks the main thread to act: it evaluates a call of `serveWorker` in this package on
 * main through `connectToMainThread()` (run by interrupt even while main is busy). Synchronous
 * calls wait for the answer in the engine's mailbox; asynchronous ones await the evaluation.
 */
export const MAIN_ANSWER_TIMEOUT_MS = 10_000

export type RemoteOp = 'start' | 'stop' | 'rotate'

export interface RemoteAnswer {
  ok: boolean
  value?: unknown
  error?: string
}

// The compiled api module, required on main by absolute path (the inspector's command-line
// API provides `require` to evaluated code).
const API_MODULE = require.resolve('./api')

let session: Session | undefined

function mainSession(): Session {
  if (!session) {
    session = new Session()
    session.connectToMainThread()
  }
  return session
}

function expression(call: string, args: unknown[]): string {
  return `require(${JSON.stringify(API_MODULE)}).${call}(${args.map((arg) => JSON.stringify(arg)).join(', ')})`
}

function unwrap(op: RemoteOp, answer: RemoteAnswer): unknown {
  if (!answer.ok) throw new YappiError(answer.error ?? `${op} failed on the main thread`)
  return answer.value
}

/** Runs `op` on the main thread and blocks this worker until it is done. */
export function callMainSync(op: RemoteOp, payload?: unknown): unknown {
  const ticket = native.mailboxTicket()
  const args = [ticket, op, JSON.stringify(payload ?? null)]
  mainSession().post('Runtime.evaluate', { expression: expression('serveWorker', args), includeCommandLineAPI: true })
  const answer = native.mailboxWait(ticket, MAIN_ANSWER_TIMEOUT_MS)
  if (answer === null) throw new YappiError(`the main thread did not carry out ${op}() within ${MAIN_ANSWER_TIMEOUT_MS} ms`)
  return unwrap(op, JSON.parse(answer) as RemoteAnswer)
}

/** Runs `op` on the main thread without blocking this worker (which main may need to answer). */
export function callMainAsync(op: RemoteOp): Promise<unknown> {
  // The inspector session does not keep this worker alive while the answer is on its way.
  const keepAlive = setInterval(() => {}, 1000)
  return new Promise<unknown>((resolve, reject) => {
    const params = { expression: expression('serveWorkerAsync', [op]), includeCommandLineAPI: true, awaitPromise: true, returnByValue: true }
    mainSession().post('Runtime.evaluate', params, (error, result) => {
      clearInterval(keepAlive)
      try {
        if (error) throw error
        resolve(unwrap(op, JSON.parse(String((result as { result?: { value?: unknown } } | undefined)?.result?.value)) as RemoteAnswer))
      } catch (failure) {
        reject(failure instanceof YappiError ? failure : new YappiError(`${op} on the main thread failed: ${(failure as Error).message}`))
      }
    })
  })
}
