import { ThreadProfiler } from './controller'
import { recordFault } from './faults'
import type { ResolvedOptions } from './options'
import { WorkerHub } from './workers'

/** How long a snapshot waits for workers' profiles before it reads what it has. */
export const WORKER_ANSWER_TIMEOUT_MS = 1000

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref())
}

/**
 * Profiles every thread of the process from the main thread: main through its own session,
 * workers through the NodeWorker domain. One timer rotates them all.
 */
export class Driver {
  readonly #main: ThreadProfiler
  readonly #workers: WorkerHub
  readonly #timer: NodeJS.Timeout
  #stopped: Promise<void> | undefined

  constructor(options: ResolvedOptions) {
    this.#main = new ThreadProfiler(options, 'global', undefined, false)
    try {
      this.#workers = new WorkerHub(options)
    } catch (error) {
      this.#main.stop()
      throw error
    }
    this.#timer = setInterval(() => this.#rotateInBackground(), options.rotateIntervalMs)
    this.#timer.unref()
  }

  #rotateInBackground(): void {
    try {
      this.#main.flush()
    } catch (error) {
      recordFault('rotate', error)
    }
    void this.#workers.rotateAll()
  }

  /** Folds what main sampled so far, synchronously; workers fold when their answers arrive. */
  flushMain(): void {
    this.#main.flush()
  }

  /** Folds every thread, waiting for workers up to a deadline (a stuck worker cannot hang it). */
  async rotateAll(): Promise<void> {
    if (this.#stopped) return this.#settle(this.#stopped)
    try {
      this.#main.flush()
    } catch (error) {
      recordFault('rotate', error)
    }
    await this.#settle(this.#workers.rotateAll())
  }

  async #settle(work: Promise<void>): Promise<void> {
    const timedOut = Symbol('timed out')
    const outcome = await Promise.race([work.then(() => undefined), delay(WORKER_ANSWER_TIMEOUT_MS).then(() => timedOut)])
    if (outcome === timedOut) recordFault('snapshot', new Error(`workers did not answer within ${WORKER_ANSWER_TIMEOUT_MS} ms`))
  }

  /** Stops main now; workers' last profiles fold when they answer (see {@link stopped}). */
  stop(): void {
    clearInterval(this.#timer)
    this.#stopped = this.#workers.stop()
    this.#main.stop()
  }

  /** Resolves when every worker's last profile is folded (or the deadline passed). */
  stopped(): Promise<void> {
    return this.#settle(this.#stopped ?? Promise.resolve())
  }
}
