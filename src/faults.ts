/** A failure inside the profiler, contained instead of thrown at the application. */
export interface Fault {
  /** What the profiler was doing, e.g. `'rotate'`. */
  where: string
  /** What went wrong. */
  message: string
  /** Milliseconds since the epoch. */
  time: number
}

const MAX_FAULTS = 100
const faults: Fault[] = []
let droppedFaults = 0

export function recordFault(where: string, error: unknown): void {
  try {
    const message = error instanceof Error ? error.message : String(error)
    if (faults.length >= MAX_FAULTS) {
      faults.shift()
      droppedFaults++
    }
    faults.push({ where, message, time: Date.now() })
  } catch {
    droppedFaults++
  }
}

/** Faults recorded on this thread, oldest first (the last 100), and how many older ones were let go. */
export function getFaults(): {
  /** The recorded faults, oldest first. */
  faults: Fault[]
  /** Faults let go because more than 100 were recorded. */
  dropped: number
} {
  return { faults: faults.slice(), dropped: droppedFaults }
}

/** Forgets the faults recorded on this thread. */
export function clearFaults(): void {
  faults.length = 0
  droppedFaults = 0
}
