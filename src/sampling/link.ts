import { Session } from 'node:inspector'

/**
 * The profiler thread's inspector session to the main thread, with messages kept as text: the
 * profiles in them are parsed by the engine, and Node's `Session` would parse each one into
 * objects first (a tsc-size profile is ~6 MB of JSON). Node's own `MainThreadConnection` (the
 * transport under `Session.connectToMainThread`) hands over the text; where it is missing,
 * `Session` stands in and its objects are turned back into text.
 */

interface Connection {
  dispatch(message: string): void
  disconnect(): void
}

type ConnectionClass = new (onMessage: (message: string) => void) => Connection

/** An answer that reports an inspector error. */
export class InspectorError extends Error {}

/** Said of requests to a worker that exited before they were answered. */
export const WORKER_EXITED = 'the worker has exited'

/**
 * A thread that exits (or is being terminated, when V8 refuses everything in it) while a request
 * to it is under way: a normal end, not a fault. What it had not sent yet is judged when it detaches.
 */
export function isGone(error: unknown): boolean {
  return error instanceof InspectorError && /^(the worker has exited|Execution was terminated|Internal error|Uncaught)$/.test(error.message)
}

const RESPONSE_ID = /^\{"id":(\d+),/
const ERROR_ANSWER = /^\{"id":\d+,"error":\{"code":-?\d+,"message":"((?:[^"\\]|\\.)*)"/
const EVENT_METHOD = /^\{"method":"([^"]+)"/

function mainThreadConnection(): ConnectionClass | undefined {
  // Internal: read quietly (process.binding is deprecated, and a warning would go to stderr).
  const quiet = process.noDeprecation
  process.noDeprecation = true
  try {
    const binding = (process as unknown as { binding(name: string): { MainThreadConnection?: ConnectionClass } }).binding('inspector')
    return typeof binding.MainThreadConnection === 'function' ? binding.MainThreadConnection : undefined
  } catch {
    return undefined
  } finally {
    process.noDeprecation = quiet
  }
}

/** Fallback transport: Node's `Session`, its parsed messages written back as text. */
class SessionConnection implements Connection {
  readonly #session = new Session()
  readonly #onMessage: (message: string) => void

  constructor(onMessage: (message: string) => void) {
    this.#onMessage = onMessage
    this.#session.connectToMainThread()
    this.#session.on('inspectorNotification', (notification) => onMessage(JSON.stringify(notification)))
  }

  dispatch(message: string): void {
    const { id, method, params } = JSON.parse(message) as { id: number; method: string; params: object }
    this.#session.post(method, params, (error, result) => {
      const answer = error ? { id, error: { code: -1, message: error.message } } : { id, result: result ?? {} }
      this.#onMessage(JSON.stringify(answer))
    })
  }

  disconnect(): void {
    this.#session.disconnect()
  }
}

/** One session to the main thread: requests answered as text, events handed over as text. */
export class MainLink {
  readonly #connection: Connection
  readonly #pending = new Map<number, { resolve: (answer: string) => void; reject: (error: Error) => void }>()
  #nextId = 1
  #closed = false

  constructor(onEvent: (method: string, message: string) => void) {
    const receive = (message: string): void => {
      const id = RESPONSE_ID.exec(message)?.[1]
      if (id !== undefined) {
        const waiter = this.#pending.get(Number(id))
        this.#pending.delete(Number(id))
        const failure = ERROR_ANSWER.exec(message)?.[1]
        if (failure !== undefined) waiter?.reject(new InspectorError(JSON.parse(`"${failure}"`) as string))
        else waiter?.resolve(message)
        return
      }
      const method = EVENT_METHOD.exec(message)?.[1]
      if (method !== undefined) onEvent(method, message)
    }
    const Raw = mainThreadConnection() ?? SessionConnection
    this.#connection = new Raw(receive)
  }

  /** Sends a request; resolves to the answer's text, rejects with the inspector's error. */
  post(method: string, params: object = {}): Promise<string> {
    if (this.#closed) return Promise.reject(new InspectorError('the session to the main thread is closed'))
    const id = this.#nextId++
    return new Promise<string>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#connection.dispatch(JSON.stringify({ id, method, params }))
    })
  }

  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#connection.disconnect()
    for (const waiter of this.#pending.values()) waiter.reject(new InspectorError('the session to the main thread closed'))
    this.#pending.clear()
  }
}

/** The `result` of an answer, parsed (for the small answers that need it). */
export function resultOf<T>(answer: string): T {
  return (JSON.parse(answer) as { result: T }).result
}

interface EvaluateResult {
  result?: { value?: unknown }
  exceptionDetails?: { exception?: { description?: string }; text?: string }
}

/** The value of an answer to `Runtime.evaluate` with `returnByValue`; throws what the code threw. */
export function evaluatedValue(answer: string): unknown {
  const result = resultOf<EvaluateResult>(answer)
  const failure = result.exceptionDetails?.exception?.description ?? result.exceptionDetails?.text
  if (failure !== undefined) throw new InspectorError(failure)
  return result.result?.value
}
