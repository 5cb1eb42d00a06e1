/**
 * yappi-node: a yappi-style profiler for Node.js. Start and stop at any time, read per-function
 * statistics (calls, total and self time, callers and callees) at any time while profiling
 * goes on, print them as a table.
 *
 * All times are in seconds. Call counts are estimates from samples unless marked exact.
 *
 * @packageDocumentation
 */
export { start, stop, isRunning, clearStats, getFuncStats, getThreadStats, getTagStats, snapshot, load } from './src/api'
export { getStalls, onStall, Stall, type Stalls, type StallFilter, type StallFunction } from './src/stalls/stalls'
export { type SaveFormat, type ExportOptions } from './src/saved'
export { setTagCallback, withTag, currentTag, type Tag } from './src/tags'
export { profile, type ProfileOptions } from './src/profile'
export { getFaults, clearFaults, type Fault } from './src/faults'
export { getMemUsage, type MemUsage } from './src/memory'
export { getOverhead, type CostKind, type Overhead, type ProfilerThreadOverhead, type ThreadOverhead, type V8SamplingEstimate } from './src/overhead'
export { YappiError } from './src/errors'
export { serve, handler, type YappiServer, type RequestHandler, type HandlerOptions, type ServeOptions } from './src/http'
export type { ClockType, CountsMode, StartOptions } from './src/options'
export {
  FuncStats,
  ThreadStats,
  type FuncStat,
  type TagStat,
  type CallEdge,
  type CallNumbers,
  type FuncFilter,
  type FuncPredicate,
  type SortKeyFunction,
  type FuncKind,
  type SortKey,
  type SortOrder,
  type ThreadStat,
  type ThreadSortKey,
  type ThreadStatsOptions,
} from './src/stats'
export type { Column, PrintOptions } from './src/table'

// Makes this copy the one `yappi-node attach` uses in this process (see src/attach/remote.ts).
import { registerInstance } from './src/attach/remote'
registerInstance()
