import type { BindingTakeOutcome, BindingThread } from '../../binding'
import { YappiError } from '../errors'
import { recordFault } from '../faults'
import { native } from '../native'

/**
 * Exact call counts (`counts: 'exact'`): V8's precise coverage with call counts, taken at every
 * rotation; the engine adds the deltas (see crates/engine/src/input/exact_counts.rs).
 *
 * Precise coverage is one per isolate: another session that starts, takes or stops it changes
 * our counts without telling us. A canary function (the agent's `yappiCoverageCanary`), called
 * once after each take and once before the next, must show exactly two calls per take; any
 * other number means someone else touched coverage, and the thread's counts turn into
 * estimates (recorded in getFaults()).
 */
export const COVERAGE_PARAMS = { callCount: true, detailed: false }
const CANARY_CALLS_PER_TAKE = 2

/** Another tool's precise coverage runs on this thread (c8's `NODE_V8_COVERAGE`, the test runner's): ours would end or reset it. */
export function foreignCoverage(): boolean {
  return Boolean(process.env.NODE_V8_COVERAGE) || process.execArgv.some((arg) => arg.startsWith('--experimental-test-coverage'))
}

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

/** Checks a take's canary count; a wrong one marks the thread's counts as estimates from now on. */
export function checkCanary(thread: BindingThread, outcome: BindingTakeOutcome): void {
  if (outcome.disturbed || outcome.canary === CANARY_CALLS_PER_TAKE) return
  native.coverageDisturbed(thread.id)
  recordFault(
    'coverage',
    new Error(
      `another inspector session started, took or stopped precise coverage on thread ${thread.id} (canary counted ${outcome.canary} calls, not ${CANARY_CALLS_PER_TAKE}): its call counts are estimates from now on`,
    ),
    thread.id,
  )
}
