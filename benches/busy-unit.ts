/** A busy worker of the server benches: CPU-bound units of work until told to stop. */

/** One unit of a busy worker: build, serialize, parse and sort a small document. */
export function unitOfWork(seed: number): number {
  const rows = Array.from({ length: 300 }, (_, i) => ({ id: (i * 2654435761 + seed) % 1_000_003, name: `row-${i}`, tags: ['a', `t${i % 7}`] }))
  const parsed = JSON.parse(JSON.stringify(rows)) as typeof rows
  parsed.sort((a, b) => a.id - b.id)
  return parsed[0].id
}

/** Slot 0 of `counts` is the stop flag; worker `index` counts its units in slot 1 + index. */
export function busyWorker(counts: Int32Array, index: number): void {
  let seed = index
  while (Atomics.load(counts, 0) === 0) {
    seed = unitOfWork(seed)
    Atomics.add(counts, 1 + index, 1)
  }
}

/** Units done so far by `workers` workers. */
export const unitsDone = (counts: Int32Array, workers: number): number => Array.from({ length: workers }, (_, i) => Atomics.load(counts, 1 + i)).reduce((a, b) => a + b, 0)
