import { native } from '../native'
import { absorb, type StatsSource } from '../saved'
import { decodeFuncStats, decodeThreadStats, type FuncStats, type ThreadStats } from '../stats'

/** The target's stats as it sent them (`json`), loaded into this process's engine to print and export. */
export class TargetStats {
  readonly #source: StatsSource

  constructor(json: string) {
    this.#source = absorb(Buffer.from(json, 'utf8'), "the target's stats")
  }

  /** All threads merged, or one thread's. */
  funcs(threadId?: number): FuncStats {
    const threads = threadId === undefined ? undefined : [threadId]
    return decodeFuncStats(native.funcStats(this.#source.scope, threads), undefined, { ...this.#source, threads })
  }

  threads(): ThreadStats {
    return decodeThreadStats(native.threadStats(this.#source.scope))
  }
}
