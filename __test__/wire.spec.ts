import test from 'ava'
import * as fs from 'node:fs'
import * as path from 'node:path'

import * as wire from '../src/wire'

// Written by the engine's test `wire_layout_fixture_is_current` from encode.rs's own constants.
const engine = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../__test__/fixtures/wire-layout.json'), 'utf8')) as Record<string, unknown>

// Kinds the engine has but never puts in a function row: `(idle)` rows are left out when
// encoding, `(root)` and the profiler's frames fold into their callers.
const KINDS_NEVER_ENCODED = ['idle', 'root', 'profiler']

test('every layout constant and code of src/wire.ts is the engine\'s, and the engine has none that it lacks', (t) => {
  const ours: Record<string, unknown> = { ...wire, FUNC_KINDS: wire.FUNC_KIND_CODES, CLOCKS: wire.CLOCK_CODES, COSTS: wire.COST_CODES }
  delete ours.FUNC_KIND_CODES
  delete ours.CLOCK_CODES
  delete ours.COST_CODES
  const engineKinds = { ...(engine.FUNC_KINDS as Record<string, number>) }
  for (const kind of KINDS_NEVER_ENCODED) {
    t.true(kind in engineKinds, `the engine no longer has kind '${kind}': update KINDS_NEVER_ENCODED`)
    delete engineKinds[kind]
  }
  t.deepEqual(ours, { ...engine, FUNC_KINDS: engineKinds })
})
