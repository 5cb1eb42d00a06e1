// A recorded engine output (__test__/fixtures/engine-output.json, written once by
// scripts/record-engine-output.js) decoded as the API decodes a live read: tests of decoding,
// sorting, filtering and printing run on it without profiling.
import * as fs from 'node:fs'
import * as path from 'node:path'

import type { BindingEncoded } from '../../binding'
import { decodeFuncStats, decodeTagStats, decodeThreadStats, type FuncStats, type TagStat, type ThreadStats } from '../../src/stats'

export interface RecordedStats {
  ncall: number
  nactual: number
  ttot_ns: number
  tsub_ns: number
  samples: number
  samples_total: number
}

interface Encoded {
  numbers: number[]
  ints: number[]
  text: string
}

export interface Recording {
  funcStats: Encoded
  threadStats: Encoded
  tagStats: Encoded
  /** The same session's `json` export, written by the engine by another path (report.rs). */
  report: {
    clock: string
    functions: { name: string; module: string; line: number; column: number; kind: string }[]
    threads: { id: number; name: string; totals: Record<string, number>; funcs: [number, RecordedStats][]; edges: [number, number, RecordedStats][] }[]
  }
}

export const recording = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../../__test__/fixtures/engine-output.json'), 'utf8')) as Recording

const encoded = ({ numbers, ints, text }: Encoded): BindingEncoded => ({ numbers: Float64Array.from(numbers), ints: Uint32Array.from(ints), text })

/** A fresh collection each call: sorting and filtering change the one they are called on. */
export const recordedFuncStats = (): FuncStats => decodeFuncStats(encoded(recording.funcStats), undefined, { scope: 'global' })
export const recordedThreadStats = (): ThreadStats => decodeThreadStats(encoded(recording.threadStats))
export const recordedTagStats = (): TagStat[] => decodeTagStats(encoded(recording.tagStats))
