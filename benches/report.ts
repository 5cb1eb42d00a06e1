import type { EngineResults, LongRunResult } from './engine-child'
import type { Machine } from './machine'
import { bytes, fixed, median, percentChange } from './measure'
import { medianCost, slowdown, type Cell, type Metric, type OverheadResults, type WorkloadResult } from './overhead'

export const TARGETS = {
  overheadPct: 2,
  foldSamplesPerSec: 20e6,
  snapshot10kMs: 5,
  rotationMs: 1,
  /** Growth of the stats' bytes from the first to the last tenth of a long run. */
  longRunGrowthPct: 1,
}

interface Check {
  target: string
  measured: string
  pass: boolean | undefined
}

const verdict = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? '**pass**' : '**FAIL**')

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  // Columns of numbers are right-aligned, the rest left.
  const numeric = (i: number) => rows.length > 0 && rows.every((row) => /^([-+]?[\d.,]+(%|M| ?[KM]?i?B| ms.*)?|—|n\/a|)$/.test(row[i] ?? ''))
  return [line(header), line(header.map((_, i) => (numeric(i) ? '---:' : '---'))), ...rows.map(line)].join('\n')
}

function cellNamed(row: WorkloadResult, name: string): Cell | undefined {
  return row.cells.find((c) => c.config.name === name && !c.unsupported && c.runs.length > 0)
}

function overheadChecks(overhead: OverheadResults): Check[] {
  const checks: Check[] = []
  for (const row of overhead.rows) {
    const yappi = cellNamed(row, 'yappi 1ms')
    const cpuProf = cellNamed(row, '--cpu-prof')
    if (!yappi) continue
    // Judged on the main thread's CPU time (the application's slowdown); the whole process's follows in brackets.
    const ours = slowdown(yappi, 'main')
    const oursProcess = percentChange(slowdown(yappi, 'process'))
    if (cpuProf) {
      const theirs = slowdown(cpuProf, 'main')
      checks.push({
        target: `${row.workload.name}: yappi 1 ms overhead ≤ --cpu-prof`,
        measured: `${percentChange(ours)} vs ${percentChange(theirs)} (process: ${oursProcess} vs ${percentChange(slowdown(cpuProf, 'process'))})`,
        pass: ours <= theirs,
      })
    }
    if (row.workload.cpuBound) {
      checks.push({
        target: `${row.workload.name}: yappi 1 ms overhead ≤ ${TARGETS.overheadPct}%`,
        measured: `${percentChange(ours)} (process: ${oursProcess})`,
        pass: (ours - 1) * 100 <= TARGETS.overheadPct,
      })
    }
  }
  return checks
}

/**
 * Growth between the first and the second half of a long run, peak against peak: replaced
 * snapshots are freed a little later (epochs), so single readings swing.
 */
function growth(values: number[]): { first: number; last: number; pct: number } {
  const half = values.length >> 1
  const first = Math.max(...values.slice(0, half))
  const last = Math.max(...values.slice(half))
  return { first, last, pct: ((last - first) / first) * 100 }
}

function longRunChecks(long: LongRunResult): Check[] {
  // New edges keep appearing for a while (V8 samples that miss a frame make "skip" edges), which
  // is data, not a leak: the stats are judged per entry (function or edge) they hold.
  const perEntry = growth(long.checkpoints.map((c) => c.usedBytes / (c.functions + c.edges)))
  const rss = growth(long.checkpoints.map((c) => c.rssBytes))
  return [
    {
      target: `stats memory flat over ${long.rotations} rotations: used bytes per function or edge, peak of 2nd half ≤ peak of 1st half + ${TARGETS.longRunGrowthPct}%`,
      measured: `${percentChange(1 + perEntry.pct / 100)} (${fixed(perEntry.first, 0)} → ${fixed(perEntry.last, 0)} B)`,
      pass: perEntry.pct < TARGETS.longRunGrowthPct,
    },
    {
      target: 'process RSS flat over the same run (after a full GC), same rule',
      measured: `${percentChange(1 + rss.pct / 100)} (${bytes(rss.first)} → ${bytes(rss.last)})`,
      pass: rss.pct < TARGETS.longRunGrowthPct,
    },
  ]
}

function engineChecks(engine: EngineResults): Check[] {
  const synthetic = engine.folds[0]
  const snap10k = engine.snapshots[0]
  return [
    {
      target: 'fold ≥ 20M samples/s (synthetic, 1M samples; thread CPU time)',
      measured: `${fixed(synthetic.samplesPerSec / 1e6, 1)}M/s`,
      pass: synthetic.samplesPerSec >= TARGETS.foldSamplesPerSec,
    },
    {
      target: `getFuncStats() with ~10k functions < ${TARGETS.snapshot10kMs} ms (thread CPU time; wall in brackets)`,
      measured: `${fixed(snap10k.cpuMedianMs, 1)} ms (${fixed(snap10k.medianMs, 1)} ms) with ${snap10k.functions} functions`,
      pass: snap10k.cpuMedianMs < TARGETS.snapshot10kMs,
    },
    {
      target: `await snapshot() with ~10k functions < ${TARGETS.snapshot10kMs} ms of the calling thread's CPU (merged and encoded on the profiler thread)`,
      measured: `${fixed(snap10k.snapshotCpuMs, 1)} ms with ${snap10k.functions} functions`,
      pass: snap10k.snapshotCpuMs < TARGETS.snapshot10kMs,
    },
    {
      target: `rotation (keep-alive) with 100k functions < ${TARGETS.rotationMs} ms (thread CPU time; wall in brackets)`,
      measured: `${fixed(engine.rotation.keepAliveCpuMedianMs, 2)} ms (${fixed(engine.rotation.keepAliveMedianMs, 2)} ms) median`,
      pass: engine.rotation.keepAliveCpuMedianMs < TARGETS.rotationMs,
    },
  ]
}

function slowdownMatrix(overhead: OverheadResults, metric: Metric): string {
  const configs = overhead.rows[0]?.cells.map((c) => c.config).filter((c) => c.name !== 'none') ?? []
  return table(
    ['Configuration', ...overhead.rows.map((r) => `${r.workload.name}${r.workload.cpuBound ? '' : ' (I/O)'}`)],
    configs.map((config) => [
      config.name,
      ...overhead.rows.map((row) => {
        const cell = cellNamed(row, config.name)
        return cell ? percentChange(slowdown(cell, metric)) : 'n/a'
      }),
    ]),
  )
}

function workloadTable(row: WorkloadResult): string {
  const throughput = row.workload.unit !== undefined
  return table(
    [
      'Configuration',
      'runs',
      'main CPU ms',
      'process CPU ms',
      'wall ms',
      ...(throughput ? ['req/s'] : []),
      'slowdown main CPU',
      'main ratio min–max',
      'slowdown process CPU',
      'slowdown wall',
      'start ms',
      'read ms',
      'functions',
      'getOverhead() %',
    ],
    row.cells.map((cell) => {
      if (cell.unsupported || cell.runs.length === 0) return [cell.config.name, '0', `n/a: ${cell.unsupported ?? 'no run'}`, ...Array<string>(throughput ? 11 : 10).fill('')]
      const base = cell.config.name === 'none'
      const reports = cell.runs.map((r) => r.report).filter((r) => r !== undefined)
      const selfPct = reports.map((r) => r.selfReportedPct).filter((p): p is number => p !== undefined)
      const isYappi = cell.config.name.startsWith('yappi')
      return [
        cell.config.name,
        String(cell.runs.length),
        fixed(medianCost(cell, 'main'), 0),
        fixed(medianCost(cell, 'process'), 0),
        fixed(medianCost(cell, 'wall'), 0),
        ...(throughput ? [fixed(median(cell.runs.map((r) => r.units / (r.ms / 1000))), 0)] : []),
        base ? '—' : percentChange(slowdown(cell, 'main')),
        base ? '—' : `${fixed(Math.min(...cell.paired.main), 3)}–${fixed(Math.max(...cell.paired.main), 3)}`,
        base ? '—' : percentChange(slowdown(cell, 'process')),
        base ? '—' : percentChange(slowdown(cell, 'wall')),
        fixed(median(cell.runs.map((r) => r.startMs)), 1),
        reports.length ? fixed(median(reports.map((r) => r.readMs)), 1) : '—',
        isYappi ? String(median(reports.map((r) => r.functions ?? NaN))) : '—',
        selfPct.length ? fixed(median(selfPct), 2) : isYappi ? 'n/a' : '—',
      ]
    }),
  )
}

function overheadSection(overhead: OverheadResults): string {
  const configs = overhead.rows[0]?.cells.map((c) => c.config) ?? []
  const parts: string[] = ['## Overhead on real workloads', '']
  parts.push(
    `One fresh child process per run; ${overhead.reps} repetitions with the configurations interleaved ` +
      '(order rotated each repetition). The profiler starts before one warm-up run; the measured runs follow. ' +
      "**Slowdown** is the median, over repetitions, of a run's cost divided by the baseline's cost in the same " +
      'repetition, on three clocks: the **main thread\'s CPU time** (the application\'s own slowdown: sampling ' +
      'signals, stack walks and everything the profiler runs on that thread; the targets are judged on it), the ' +
      "**process's CPU time** (adds the profilers' own threads, e.g. V8's sampler and symbolizer), and **wall " +
      "time**. This machine is shared with other jobs: wall time swings by tens of percent with their load, so " +
      'it is shown but not judged.',
    '',
    '### Slowdown vs no profiler, main-thread CPU time (median of paired ratios)',
    '',
    slowdownMatrix(overhead, 'main'),
    '',
    '### Slowdown vs no profiler, process CPU time (all threads)',
    '',
    slowdownMatrix(overhead, 'process'),
    '',
    '### Slowdown vs no profiler, wall time',
    '',
    slowdownMatrix(overhead, 'wall'),
    '',
    '### Configurations',
    '',
    table(['Configuration', 'What'], configs.map((c) => [c.name, c.what])),
    '',
  )
  for (const row of overhead.rows) parts.push(`### ${row.workload.name}`, '', row.workload.what, '', workloadTable(row), '')
  return parts.join('\n')
}

function selfReportSection(overhead: OverheadResults): string {
  const rows: string[][] = []
  for (const row of overhead.rows) {
    for (const cell of row.cells) {
      if (!cell.config.name.startsWith('yappi') || cell.unsupported || cell.runs.length === 0) continue
      const reported = cell.runs.map((r) => r.report?.selfReportedPct).filter((p): p is number => p !== undefined)
      rows.push([
        row.workload.name,
        cell.config.name,
        percentChange(slowdown(cell, 'main')),
        percentChange(slowdown(cell, 'process')),
        percentChange(slowdown(cell, 'wall')),
        reported.length ? `${fixed(median(reported), 2)}%` : 'n/a (no getOverhead() in this build)',
      ])
    }
  }
  return [
    '## Self-reported overhead next to the measured slowdown',
    '',
    '`getOverhead()` is read at the end of each run, before `stop()`; the measured slowdown is the one above.',
    '',
    table(['Workload', 'Configuration', 'slowdown main CPU', 'slowdown process CPU', 'slowdown wall', 'getOverhead() %'], rows),
    '',
  ].join('\n')
}

function engineSection(engine: EngineResults): string {
  const parts = ['## Engine speed and memory', '', '### Fold throughput', '']
  parts.push(
    'Through the binding, as the profiler calls it: typed arrays copied in, frames parsed, folded, snapshot published. ' +
      'Median of repeated folds of the same profile into a thread that already knows its functions (steady-state rotations). ' +
      'Samples/s are per second of the thread\'s CPU time (the fold runs on the calling thread), which the load of other jobs on this machine does not inflate.',
    '',
    table(
      ['Profile', 'nodes', 'samples', 'flatten ms', 'fold CPU ms', 'fold wall ms', 'samples/s'],
      engine.folds.map((f) => [
        f.what,
        String(f.nodes),
        String(f.samples),
        f.flattenMs === undefined ? '—' : fixed(f.flattenMs, 2),
        fixed(f.foldCpuMs, 2),
        fixed(f.foldMs, 2),
        `${fixed(f.samplesPerSec / 1e6, 2)}M`,
      ]),
    ),
    '',
    `Stall detection (\`stallThresholdMs\`) in the fold, its worst case (the synthetic profile without an idle sample: one stall through all ${engine.stalls.samples} samples): ` +
      `${fixed(engine.stalls.offCpuMs, 1)} ms off, ${fixed(engine.stalls.onCpuMs, 1)} ms on, ratio ${fixed(engine.stalls.ratio, 3)} (median of paired folds, thread CPU time).`,
    '',
    '### Snapshot latency of getFuncStats()',
    '',
    'Functions generated with `new Function` (chains of 200 distinct functions, each chain sampled at 100 µs); ' +
      'the time includes folding what was sampled since the last read and decoding every row in JavaScript. ' +
      'Two of its parts are timed on their own (medians of separate loops, so they need not add up): the ' +
      "engine's merge + encode (`funcStats` binding) and the JavaScript decode of its result. `await snapshot()` " +
      'has the profiler thread merge and encode: its column is what the calling thread still pays (rotation, decode).',
    '',
    table(
      ['functions in stats', 'getFuncStats() CPU ms', 'wall median ms', 'wall p95 ms', 'engine merge + encode ms', 'JS decode ms', 'await snapshot() CPU ms'],
      engine.snapshots.map((s) => [String(s.functions), fixed(s.cpuMedianMs, 2), fixed(s.medianMs, 2), fixed(s.p95Ms, 2), fixed(s.encodeMs, 2), fixed(s.decodeMs, 2), fixed(s.snapshotCpuMs, 2)]),
    ),
    '',
    '### Rotation cost per thread',
    '',
    `With ${engine.rotation.functionsCompiled} generated functions compiled and run: our rotation (console profile kept open across ` +
      'Profiler.stop + Profiler.start) against a plain stop + start, where V8 logs every code object again.',
    '',
    table(
      ['Rotation', 'CPU median ms', 'wall median ms', 'wall p95 ms'],
      [
        ['keep-alive (yappi-node)', fixed(engine.rotation.keepAliveCpuMedianMs, 3), fixed(engine.rotation.keepAliveMedianMs, 3), fixed(engine.rotation.keepAliveP95Ms, 3)],
        ['plain Profiler.stop + start', '—', fixed(engine.rotation.plainMedianMs, 1), '—'],
      ],
    ),
    '',
    '### Rotation of a real profile',
    '',
    'What each rotation costs in a real application, and where: on the profiled thread V8 ends and serializes ' +
      'its profile (timed by the thread itself); on the profiler thread the engine parses and folds it. The ' +
      'workload runs once between rotations (a fresh read each time).',
    '',
    table(
      ['Workload', 'samples', 'profiled thread ms', 'profiler thread ms'],
      engine.realRotations.map((r) => [r.what, String(r.samples), fixed(r.rotateMs, 1), fixed(r.foldMs, 1)]),
    ),
    '',
    '### Memory per function and per edge',
    '',
    'Bytes used by the stats (`memUsage().usedBytes`, the budget) with the 100k generated functions, divided by each count. ' +
      'Both divide the same total, so each is an upper bound.',
    '',
  )
  const m = engine.memory
  parts.push(
    table(
      ['used bytes', 'functions', 'edges', 'bytes per function', 'bytes per edge'],
      [[bytes(m.usedBytes), String(m.functions), String(m.edges), fixed(m.usedBytes / m.functions, 0), fixed(m.usedBytes / m.edges, 0)]],
    ),
    '',
  )
  return parts.join('\n')
}

function longRunSection(long: LongRunResult): string {
  return [
    '### Memory over a long run',
    '',
    `The same ${long.functions} functions (5 chains of 200), sampled at 100 µs, one rotation (getFuncStats) after each pass, ` +
      `${long.rotations} rotations after 50 of warm-up, in a process of its own, the event loop turning after each ` +
      '(Node frees the buffers of typed arrays returned by the addon in its finalizers, which run there: a ' +
      'synchronous loop of reads holds them all until it ends). RSS is read after a full GC (`--expose-gc`). ' +
      'Edges keep appearing slowly: V8 samples that miss one frame of a chain record a caller → grand-callee edge.',
    '',
    table(
      ['rotation', 'used bytes', 'functions', 'edges', 'bytes per function or edge', 'process RSS'],
      long.checkpoints.map((c) => [String(c.rotation), String(c.usedBytes), String(c.functions), String(c.edges), fixed(c.usedBytes / (c.functions + c.edges), 0), bytes(c.rssBytes)]),
    ),
    '',
  ].join('\n')
}


export interface Report {
  machine: Machine
  mode: string
  command: string
  seconds: number
  overhead?: OverheadResults
  engine?: EngineResults
  longRun?: LongRunResult
}

export function renderReport(report: Report): string {
  const { machine } = report
  const checks = [...(report.overhead ? overheadChecks(report.overhead) : []), ...(report.engine ? engineChecks(report.engine) : []), ...(report.longRun ? longRunChecks(report.longRun) : [])]
  const parts = [
    '# Benchmark results',
    '',
    `Written by \`${report.command}\` (${report.mode} mode, ${Math.round(report.seconds)} s). One run on a shared machine: ` +
      'ratios taken side by side in the same run are the result, absolute times are only context.',
    '',
    table(
      ['Machine', ''],
      [
        ['CPU', machine.cpu],
        ['cores', String(machine.cores)],
        ['memory', machine.memory],
        ['OS', machine.os],
        ['Node', `${machine.node} (V8 ${machine.v8})`],
        ['date', machine.date],
      ],
    ),
    '',
    '## Targets',
    '',
    table(['Target', 'Measured', 'Result'], checks.map((c) => [c.target, c.measured, verdict(c.pass)])),
    '',
  ]
  if (report.overhead) parts.push(overheadSection(report.overhead), selfReportSection(report.overhead))
  if (report.engine) parts.push(engineSection(report.engine))
  if (report.longRun) parts.push(longRunSection(report.longRun))
  return parts.join('\n')
}
