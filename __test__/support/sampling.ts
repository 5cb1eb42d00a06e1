import type { ThreadStat } from '../../index'

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
