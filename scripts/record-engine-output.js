// Records what the engine returns for a short profiled run, once, into
// __test__/fixtures/engine-output.json: the encoded function, thread and tag stats (numbers,
// integers and text, as the binding hands them to TypeScript) and the same session's `json` export, which the
// engine writes by another path. __test__/stats.spec.ts and table.spec.ts decode, sort, filter
// and print the recording without profiling, and check the decoding against the export.
// Run after `npm run build`: node scripts/record-engine-output.js
'use strict'
const { writeFileSync } = require('node:fs')
const path = require('node:path')

const yappi = require('../dist/index.js')
const { native } = require('../dist/src/native.js')

function burn(ms) {
  const end = Date.now() + ms
  let x = 0
  while (Date.now() < end) for (let i = 0; i < 1000; i++) x += Math.sqrt(i)
  return x
}
function recordedLeaf(ms) {
  return burn(ms)
}
function recordedInner(ms) {
  return recordedLeaf(ms / 2) + burn(ms / 2)
}
function recordedOuter(ms) {
  let sum = 0
  for (let i = 0; i < 5; i++) sum += recordedInner(ms / 5)
  return sum
}
function recordedRecursive(depth, ms) {
  return depth === 0 ? burn(ms) : recordedRecursive(depth - 1, ms)
}

const encoded = ({ numbers, ints, text }) => ({ numbers: Array.from(numbers), ints: Array.from(ints), text })

yappi.clearStats()
yappi.start({ threads: false, intervalUs: 500 })
yappi.withTag('outer', () => recordedOuter(300))
yappi.withTag('recursive', () => recordedRecursive(4, 150))
yappi.stop()
const recording = {
  recorded: 'by scripts/record-engine-output.js',
  funcStats: encoded(native.funcStats('global', undefined)),
  threadStats: encoded(native.threadStats('global')),
  tagStats: encoded(native.tagStats(undefined)),
  report: JSON.parse(native.exportStats('global', undefined, 'json').toString('utf8')),
}
const file = path.join(__dirname, '..', '__test__', 'fixtures', 'engine-output.json')
writeFileSync(file, `${JSON.stringify(recording)}\n`)
console.log(`recorded ${file}`)
