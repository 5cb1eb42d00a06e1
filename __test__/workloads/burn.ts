// Workloads with a known split of time: each function spins on the monotonic clock for a set
// number of milliseconds, so its self time is known whatever the machine's speed.
//
// Two V8 sampler limits shape this file. A sample inside a V8 fast API call loses its
// JavaScript frame (V8 charges the caller), and the clock reads are such calls
// (`process.hrtime()` as much as `hrtime.bigint()`): so each loop does a few microseconds of
// plain JavaScript between two reads, and few samples land inside a read. And V8 drops the
// frames of functions TurboFan inlined, so every call whose callee must stay visible goes
// through a call site that has seen more callees than TurboFan inlines (megamorphic). Each loop
// is written out in its function: a shared helper would be a frame of its own, or be inlined,
// and blur whose self time it is.

/** Plain JavaScript between two clock reads (a few µs); `sink` keeps it from being optimized away. */
const WORK_BETWEEN_READS = 1000
let sink = 0

type Step = (sliceMs: number, next: Step) => void

/** Spins for `ms` of wall time; the loop is this function's own time. */
export function spinA(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

export function spinB(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

export function spinC(ms: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= ms) return
  }
}

/** A: spins 30% itself and calls `next` (B) for 30%, so A's total is 60% and its self time 30%. */
export function A(sliceMs: number, next: Step): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= sliceMs * 0.3) break
  }
  next(sliceMs, next)
}

/** B: 30%, called only by A. */
export function B(sliceMs: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= sliceMs * 0.3) return
  }
}

/** C: 10%. */
export function C(sliceMs: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= sliceMs * 0.1) return
  }
}

/** D: the remaining 30%, outside A. */
export function D(sliceMs: number): void {
  const start = process.hrtime()
  for (;;) {
    for (let k = 0; k < WORK_BETWEEN_READS; k++) sink = (sink + k * k) % 1_000_003
    const [seconds, nanos] = process.hrtime(start)
    if (seconds * 1e3 + nanos / 1e6 >= sliceMs * 0.3) return
  }
}

/**
 * Two functions V8 names none, spinning (in spinA) for the ms they are given. They are returned
 * by a function: written straight into an exported array, V8 would name one after the export.
 */
function spinners(): ((ms: number) => void)[] {
  return [(ms) => spinA(ms), (ms) => spinA(ms + 0)]
}
export const anonymousPair = spinners()

// Distinct function literals: closures of one literal count as one callee to TurboFan.
const decoys: Step[] = [
  (ms) => spinA(ms),
  (ms) => spinA(ms + 0),
  (ms) => spinA(ms * 1),
  (ms) => spinA(ms - 0),
  (ms) => spinA(ms / 1),
  (ms) => spinA(+ms),
]

function runSteps(steps: Step[], sliceMs: number, next: Step): void {
  for (const step of steps) step(sliceMs, next)
}

// Make both call sites (A's `next` and runSteps' `step`) megamorphic before any measurement.
for (const decoy of decoys) {
  A(0, decoy)
  runSteps(decoys, 0, decoy)
}

/** Runs A, C and D in interleaved slices for `totalMs`: A 60% (B 30% inside it), C 10%, D 30%. */
export function mixedWorkload(totalMs: number, slices = 40): void {
  const sliceMs = totalMs / slices
  for (let i = 0; i < slices; i++) runSteps([A, C, D], sliceMs, B)
}

/** Direct recursion: each level spins, then recurses. */
export function recurse(depth: number, msPerLevel: number): void {
  spinA(msPerLevel)
  if (depth > 1) recurse(depth - 1, msPerLevel)
}

/** Mutual recursion between ping and pong. */
export function ping(depth: number, msPerLevel: number): void {
  spinB(msPerLevel)
  if (depth > 1) pong(depth - 1, msPerLevel)
}

export function pong(depth: number, msPerLevel: number): void {
  spinC(msPerLevel)
  if (depth > 1) ping(depth - 1, msPerLevel)
}
