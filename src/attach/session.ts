import * as net from 'node:net'
import * as path from 'node:path'
import { performance } from 'node:perf_hooks'

import { messageOf } from '../errors'
import type { StartOptions } from '../options'
import { InspectorClient, inspectorJson, TargetGoneError, type InspectorVersion } from './inspector-client'
import { AttachError, checkVersion, type TargetProcess } from './process'
import { INSTANCE_KEY, type Begun } from './remote'

/** How long the inspector may take to open after the signal, and to close after `inspector.close()`. */
const OPEN_DEADLINE_MS = 10_000
const CLOSE_DEADLINE_MS = 5000
/** A call into the target: loading the package and starting may take seconds on a loaded machine. */
const CALL_DEADLINE_MS = 30_000
const PROBE_MS = 1000

/** The package's entry, loaded into the target by absolute path when it has no yappi-node of its own. */
const ENTRY = path.join(__dirname, '..', '..', 'index.js')

/** Times (ms, performance.now() of this process) that say how long the target was exposed. */
export interface Timings {
  signalledAt?: number
  openAt?: number
  attachedAt?: number
  detachStartedAt?: number
  closedAt?: number
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port })
    socket.setTimeout(PROBE_MS)
    const done = (answer: boolean) => {
      socket.destroy()
      resolve(answer)
    }
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
    socket.once('timeout', () => done(false))
  })
}

/** Whose inspector listens on `port`: the target's (`true`), someone else's (`false`), nobody's (`undefined`). */
async function ownerOf(target: TargetProcess, port: number): Promise<boolean | undefined> {
  if (!(await accepting(port))) return undefined
  if (target.listening) return target.listening().has(port)
  // Without /proc: ask the inspector which process it is.
  try {
    const client = await InspectorClient.connect(port, PROBE_MS * 5)
    try {
      return (await client.evaluate<number>('process.pid', PROBE_MS * 5)) === target.pid
    } finally {
      await client.close()
    }
  } catch {
    return false
  }
}

/**
 * One attachment to a target: opens its inspector (or finds it open), loads yappi-node into it
 * and begins; `detach()` leaves it as found. Every step has a deadline.
 */
export class Attachment {
  readonly timings: Timings = {}
  #client!: InspectorClient
  #opened = false
  #detached = false
  begun!: Begun

  private constructor(
    readonly target: TargetProcess,
    readonly port: number,
  ) {}

  /** Whether the inspector was open before we came (then it stays open). */
  get wasOpen(): boolean {
    return !this.#opened
  }

  get gone(): boolean {
    return this.#client.gone
  }

  get closed(): Promise<void> {
    return this.#client.closed
  }

  static async open(target: TargetProcess, options: StartOptions): Promise<Attachment> {
    const attachment = new Attachment(target, target.inspectorPort)
    await attachment.#open()
    try {
      await attachment.#begin(options)
    } catch (error) {
      await attachment.detach().catch(() => undefined)
      throw error
    }
    return attachment
  }

  async #open(): Promise<void> {
    const { port, target, timings } = this
    const owner = await ownerOf(target, port)
    if (owner === false) throw new AttachError(`the inspector port 127.0.0.1:${port} is already taken by another process: the target's inspector could not open there, so it was left alone`)
    if (owner === undefined) {
      timings.signalledAt = performance.now()
      try {
        // SIGUSR1 on POSIX, a remote thread on Windows: Node's own way to open a process's inspector.
        ;(process as unknown as { _debugProcess(pid: number): void })._debugProcess(target.pid)
      } catch (error) {
        throw new AttachError(`cannot open the inspector of process ${target.pid}: ${messageOf(error)}`)
      }
      this.#opened = true
      await this.#waitOpen()
    }
    timings.openAt = performance.now()
    const version = await inspectorJson<InspectorVersion>(port, '/json/version', PROBE_MS * 5).catch(() => undefined)
    try {
      if (version) checkVersion(version.Browser.replace(/^node\.js\//, ''))
      this.#client = await InspectorClient.connect(port, PROBE_MS * 5)
    } catch (error) {
      if (this.#opened) await this.#closeInspectorFresh()
      throw error instanceof AttachError ? error : new AttachError(`cannot connect to the inspector of process ${target.pid}: ${messageOf(error)}`)
    }
  }

  async #waitOpen(): Promise<void> {
    const until = performance.now() + OPEN_DEADLINE_MS
    while (performance.now() < until) {
      const answered = await inspectorJson<InspectorVersion>(this.port, '/json/version', PROBE_MS).then(
        () => true,
        () => false,
      )
      if (answered && (!this.target.listening || this.target.listening().has(this.port))) return
      await sleep(20)
    }
    throw new AttachError(`process ${this.target.pid} did not open its inspector on 127.0.0.1:${this.port} within ${OPEN_DEADLINE_MS} ms`)
  }

  /** Closes an inspector we opened but could not use (no session to close it from: a fresh one). */
  async #closeInspectorFresh(): Promise<void> {
    try {
      const client = await InspectorClient.connect(this.port, PROBE_MS * 5)
      this.#client = client
      await this.#closeInspector()
    } catch {
      // Nothing more we can do; the report says so through the error already thrown.
    }
  }

  async #begin(options: StartOptions): Promise<void> {
    // A target that exits while a session is connected waits for it to disconnect (printing
    // "Waiting for the debugger to disconnect..." otherwise): told so, we let it go at once.
    this.#client.on('NodeRuntime.waitingForDisconnect', () => void this.#client.close())
    await this.#client.call('NodeRuntime.notifyWhenWaitingForDisconnect', { enabled: true }, CALL_DEADLINE_MS)
    const pid = await this.#client.evaluate<number>('process.pid', CALL_DEADLINE_MS)
    if (pid !== this.target.pid) throw new AttachError(`the inspector on 127.0.0.1:${this.port} belongs to process ${pid}, not ${this.target.pid}`)
    this.begun = await this.call<Begun>(`begin(${JSON.stringify(options)}, ${this.#opened})`)
    this.timings.attachedAt = performance.now()
  }

  /**
   * Calls the instance's attach side in the target, loading our copy first when the target has
   * none. `process.getBuiltinModule` and `createRequire` work in CommonJS and ESM targets alike.
   */
  call<T>(invocation: string): Promise<T> {
    // The inspector holds an awaited evaluation's promise weakly: one answer in a CI run was
    // "Promise was collected" instead of the call's result. Held in the target until it settles.
    const expression = `(() => {
      const held = (globalThis[Symbol.for(${JSON.stringify(`${INSTANCE_KEY}.calls`)})] ??= new Set())
      const call = (async () => {
        const slot = Symbol.for(${JSON.stringify(INSTANCE_KEY)})
        if (globalThis[slot] === undefined) {
          const entry = ${JSON.stringify(ENTRY)}
          process.getBuiltinModule('node:module').createRequire(entry)(entry)
        }
        return globalThis[slot].attach.${invocation}
      })()
      held.add(call)
      call.then(() => held.delete(call), () => held.delete(call))
      return call
    })()`
    return this.#client.evaluate<T>(expression, CALL_DEADLINE_MS)
  }

  async #closeInspector(): Promise<void> {
    // inspector.close() ends every session, ours included, so its answer may never come.
    this.#client.post('Runtime.evaluate', { expression: "process.getBuiltinModule('node:inspector').close()", silent: true })
    let timer: NodeJS.Timeout | undefined
    await Promise.race([this.#client.closed, new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_DEADLINE_MS)))])
    clearTimeout(timer)
    await this.#client.close()
    const until = performance.now() + CLOSE_DEADLINE_MS
    while (await accepting(this.port)) {
      if (performance.now() > until) throw new AttachError(`the target's inspector on 127.0.0.1:${this.port} did not close within ${CLOSE_DEADLINE_MS} ms`)
      await sleep(10)
    }
  }

  /** Ends the run if ours and returns the final stats (`json`); `undefined` if the target is gone. */
  async end(): Promise<string | undefined> {
    this.timings.detachStartedAt = performance.now()
    if (this.gone) return undefined
    try {
      return await this.call<string>('end()')
    } catch (error) {
      if (error instanceof TargetGoneError) return undefined
      throw error
    }
  }

  /** Leaves the inspector as found: closed again if we opened it. Idempotent. */
  async detach(): Promise<void> {
    if (this.#detached) return
    this.#detached = true
    this.timings.detachStartedAt ??= performance.now()
    if (!this.#client || this.gone) {
      this.timings.closedAt = performance.now()
      return
    }
    if (this.#opened) await this.#closeInspector()
    else await this.#client.close()
    this.timings.closedAt = performance.now()
  }
}
