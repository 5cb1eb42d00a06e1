import { native } from './native'

/** Memory of `start()`'s stats against their budget, and what the budget made the profiler drop. */
export interface MemUsage {
  /** Bytes the stats hold now (function table, per-thread tables, fold scratch in flight). */
  usedBytes: number
  /** The most bytes held at once since the last {@link clearStats}. */
  peakBytes: number
  /** The budget: `maxMemoryBytes` of the last `start()`. */
  maxBytes: number
  /** Samples whose data was dropped because the budget was full. */
  droppedSamples: number
  /** New functions that could not be recorded because the budget was full (once per profile that met them). */
  droppedFunctions: number
  /** Functions recorded. */
  functions: number
  /** Allocations the budget (or the allocator) refused. */
  refusals: number
}

/** Memory used by the stats of `start()`, the budget, and the data dropped to stay within it. */
export function getMemUsage(): MemUsage {
  const usage = native.memUsage()
  return {
    usedBytes: usage.usedBytes,
    peakBytes: usage.peakBytes,
    maxBytes: usage.maxBytes,
    droppedSamples: usage.droppedSamples,
    droppedFunctions: usage.droppedFunctions,
    functions: usage.functions,
    refusals: usage.refusals,
  }
}
