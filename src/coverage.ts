import { readFileSync } from 'node:fs'
import { Session } from 'node:inspector'
import { fileURLToPath } from 'node:url'

import type { BindingThread } from '../binding'
import { YappiError } from './errors'
import { recordFault } from './faults'
import { native } from './native'
import { measured, recordCost } from './overhead'
import { OWN_CODE_PREFIXES } from './thread'

/**
 * Exact call counts (`counts: 'exact'`): V8's precise coverage with call counts, taken at every
 * rotation; the engine adds the deltas (see crates/engine/src/coverage.rs).
 *
 * Precise coverage is one per isolate: another session that starts, takes or stops it changes
 * our counts without telling us. A canary function, called once after each take and once before
 * the next, must show exactly two calls per take; any other number means someone else touched
 * coverage, and the thread's counts turn into estimates (recorded in getFaults()).
 */
export const COVERAGE_PARAMS = { callCount: true, detailed: false }
export const CANARY_CALLS_PER_TAKE = 2

/** Its name is what the engine looks for (`CANARY_NAME`); it must never be inlined or renamed. */
function yappiCoverageCanary(): void {}

/** Refuses exact counts where they would destroy someone else's coverage. */
export function checkExactCountsAllowed(): void {
  if (process.env.NODE_V8_COVERAGE) {
    throw new YappiError(
      "counts: 'exact' is refused while NODE_V8_COVERAGE is set: precise coverage is one per process, and ours would reset the counts Node collects for that report",
    )
  }
  if (process.execArgv.some((arg) => arg.startsWith('--experimental-test-coverage'))) {
    throw new YappiError("counts: 'exact' is refused under --experimental-test-coverage: ours would reset the counts of the test runner's coverage")
  }
}

/** A script's source as V8 compiled it, if it can be read (CommonJS drops a leading BOM). */
function readSource(url: string): string | null {
  try {
    const text = readFileSync(fileURLToPath(url), 'utf8')
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
  } catch {
    return null
  }
}

/** Adds one take (the inspector's answer as JSON) of `thread`, and checks the canary. */
export function ingestTake(thread: BindingThread, json: string): void {
  const outcome = measured('ingest', () => {
    const taken = native.ingestCoverage(thread.id, json, OWN_CODE_PREFIXES)
    for (const url of taken.missingSources) native.coverageSource(url, readSource(url), OWN_CODE_PREFIXES)
    return taken
  })
  if (!outcome.disturbed && outcome.canary !== CANARY_CALLS_PER_TAKE) {
    native.coverageDisturbed(thread.id)
    recordFault(
      'coverage',
      new Error(
        `another inspector session started, took or stopped precise coverage on thread ${thread.id} (canary counted ${outcome.canary} calls, not ${CANARY_CALLS_PER_TAKE}): its call counts are estimates from now on`,
      ),
    )
  }
}

function post(session: Session, method: string, params: object = {}): unknown {
  let answered = false
  let failure: Error | null = null
  let result: unknown
  session.post(method, params, (error, value) => {
    answered = true
    failure = error
    result = value
  })
  if (!answered) throw new YappiError(`inspector ${method} did not answer synchronously`)
  if (failure) throw failure
  return result
}

/** Whether this thread counts calls exactly now (a `profile()` ending would disturb it). */
let countingHere = false

export function isCountingHere(): boolean {
  return countingHere
}

/** Precise coverage of the calling thread, on an inspector session of its own. */
export class SelfCoverage {
  readonly #session = new Session()
  readonly #thread: BindingThread

  constructor(thread: BindingThread) {
    this.#thread = thread
    this.#session.connect()
    try {
      post(this.#session, 'Profiler.enable')
      post(this.#session, 'Profiler.startPreciseCoverage', COVERAGE_PARAMS)
    } catch (error) {
      this.#session.disconnect()
      throw error
    }
    yappiCoverageCanary()
    countingHere = true
  }

  /** Adds the calls since the last take to the engine. */
  take(): void {
    yappiCoverageCanary()
    const started = process.hrtime.bigint()
    const result = post(this.#session, 'Profiler.takePreciseCoverage')
    recordCost('inspector', Number(process.hrtime.bigint() - started))
    yappiCoverageCanary()
    ingestTake(this.#thread, measured('ingest', () => JSON.stringify({ result })))
  }

  /** Takes the last counts and ends coverage (which lets V8 optimize again). */
  stop(): void {
    countingHere = false
    try {
      this.take()
    } finally {
      try {
        post(this.#session, 'Profiler.stopPreciseCoverage')
      } finally {
        this.#session.disconnect()
      }
    }
  }
}
