import type { FuncStat, ThreadStat } from '../../index'

/**
 * Points by which a function's share of a run may differ from a known split: 5, plus the share
 * of the run that no on-time sample covered. A sampler that a loaded machine held up charges a
 * whole gap to whichever function was on top at its end; the time those gaps stood for is the
 * time whose attribution the run cannot vouch for.
 */
export function sharePointsSlack(thread: ThreadStat, intervalUs: number, wallSeconds: number): number {
  const covered = ((thread.samples + thread.profilerSamples) * intervalUs) / 1e6
  return 5 + (100 * Math.max(0, wallSeconds - covered)) / wallSeconds
}

/**
 * Calls of `stat` that the estimate counted through callers the program never calls it from.
 * V8 sometimes walks a stack without one of its middle frames (seen on Node 24: `mixedWorkload >
 * A` between two samples of `mixedWorkload > runSteps > A`, and `runSteps > B` before `runSteps
 * > A > B`), and the sample after it, with the frame back, shows the frames above it entered
 * again. Each such sample also records a caller edge that does not exist: its calls are how
 * far such samples can carry an estimate past the real count.
 */
export function callsThroughLostFrames(stat: FuncStat, realCallers: readonly string[]): number {
  return stat.callers.filter((caller) => !realCallers.includes(caller.name)).reduce((sum, caller) => sum + caller.ncall, 0)
}
