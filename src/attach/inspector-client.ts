import * as http from 'node:http'

import { YappiError, messageOf } from '../errors'
import { connectWebSocket, type WebSocketClient } from './websocket'

/** What an inspector's `/json/version` says; `Browser` is `node.js/v<version>`. */
export interface InspectorVersion {
  Browser: string
  'Protocol-Version': string
}

/** GET of one of the inspector's HTTP endpoints on loopback; rejects if nothing (or no inspector) answers. */
export function inspectorJson<T>(port: number, what: '/json/version' | '/json/list', timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const request = http.get({ host: '127.0.0.1', port, path: what, timeout: timeoutMs, agent: false }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => (body += chunk))
      response.on('end', () => {
        try {
          resolve(JSON.parse(body) as T)
        } catch {
          reject(new YappiError(`127.0.0.1:${port}${what} did not answer JSON: not an inspector`))
        }
      })
    })
    request.once('timeout', () => request.destroy(new YappiError(`127.0.0.1:${port} did not answer ${what} within ${timeoutMs} ms`)))
    request.once('error', reject)
  })
}

/** An exception thrown by code evaluated in the target. */
export class EvaluationError extends YappiError {}

/** A Chrome DevTools Protocol session with the target's main thread. */
export class InspectorClient {
  #socket!: WebSocketClient
  #next = 1
  #pending = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>()
  #gone = false
  #events = new Map<string, () => void>()

  private constructor() {}

  static async connect(port: number, timeoutMs: number): Promise<InspectorClient> {
    const targets = await inspectorJson<{ webSocketDebuggerUrl?: string }[]>(port, '/json/list', timeoutMs)
    const url = targets.find((target) => target.webSocketDebuggerUrl)?.webSocketDebuggerUrl
    if (!url) throw new YappiError(`the inspector on 127.0.0.1:${port} lists no debuggable target (is another debugger attached?)`)
    const client = new InspectorClient()
    client.#socket = await connectWebSocket(url, (text) => client.#receive(text), timeoutMs)
    void client.#socket.closed.then(() => {
      client.#gone = true
      for (const { reject } of client.#pending.values()) reject(new TargetGoneError('the target closed the inspector connection (it exited?)'))
      client.#pending.clear()
    })
    return client
  }

  get closed(): Promise<void> {
    return this.#socket.closed
  }

  get gone(): boolean {
    return this.#gone
  }

  #receive(text: string): void {
    let message: { id?: number; method?: string; result?: unknown; error?: { message: string } }
    try {
      message = JSON.parse(text)
    } catch {
      return
    }
    if (message.method !== undefined) this.#events.get(message.method)?.()
    const waiter = message.id === undefined ? undefined : this.#pending.get(message.id)
    if (!waiter) return
    this.#pending.delete(message.id as number)
    if (message.error) waiter.reject(new YappiError(`inspector: ${message.error.message}`))
    else waiter.resolve(message.result)
  }

  call(method: string, params: object, timeoutMs: number): Promise<unknown> {
    if (this.#gone) return Promise.reject(new TargetGoneError('the target closed the inspector connection (it exited?)'))
    const id = this.#next++
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id)
        reject(new YappiError(`the target did not answer ${method} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pending.set(id, {
        resolve: (value) => (clearTimeout(timer), resolve(value)),
        reject: (error) => (clearTimeout(timer), reject(error)),
      })
      this.#socket.send(JSON.stringify({ id, method, params }))
    })
  }

  /** Calls `listener` on each notification `method` (one listener per method). */
  on(method: string, listener: () => void): void {
    this.#events.set(method, listener)
  }

  /** Evaluates `expression` in the target's main thread, awaiting a promise; returns its value by value. */
  async evaluate<T>(expression: string, timeoutMs: number): Promise<T> {
    const result = (await this.call('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true, silent: true }, timeoutMs)) as {
      result: { value?: unknown }
      exceptionDetails?: { text: string; exception?: { description?: string; value?: unknown } }
    }
    if (result.exceptionDetails) {
      const { exception, text } = result.exceptionDetails
      throw new EvaluationError(`in the target: ${exception?.description?.split('\n')[0] ?? messageOf(exception?.value ?? text)}`)
    }
    return result.result.value as T
  }

  /** Sends without waiting for an answer (one that the target may never send: `inspector.close()`). */
  post(method: string, params: object): void {
    if (!this.#gone) this.#socket.send(JSON.stringify({ id: this.#next++, method, params }))
  }

  close(): Promise<void> {
    return this.#socket.close()
  }
}

/** The target went away while we were attached. */
export class TargetGoneError extends YappiError {}
