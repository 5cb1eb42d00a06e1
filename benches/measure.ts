/** Small numeric helpers shared by every bench section. */

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
}

/** The value below which `p` (0–1) of the values lie (nearest rank). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]
}

/** Milliseconds elapsed since `start` (a `process.hrtime.bigint()` reading). */
export function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** Times one call, in milliseconds. */
export function timeMs(fn: () => void): number {
  const start = process.hrtime.bigint()
  fn()
  return msSince(start)
}

/** Times `fn` `reps` times and returns every duration (ms). */
export function timeEach(reps: number, fn: (rep: number) => void): number[] {
  const times: number[] = []
  for (let rep = 0; rep < reps; rep++) times.push(timeMs(() => fn(rep)))
  return times
}

/** A seeded PRNG (mulberry32): generated inputs are the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export function fixed(value: number, digits: number): string {
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a'
}

/** A ratio as a signed percentage change: 1.034 → "+3.4%". */
export function percentChange(ratio: number): string {
  if (!Number.isFinite(ratio)) return 'n/a'
  const pct = (ratio - 1) * 100
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)}%`
}

export function bytes(value: number): string {
  if (!Number.isFinite(value)) return 'n/a'
  if (value >= 1024 * 1024) return `${(value / 1024 / 1024).toFixed(1)} MiB`
  if (value >= 1024) return `${(value / 1024).toFixed(1)} KiB`
  return `${Math.round(value)} B`
}
