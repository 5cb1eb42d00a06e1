import test from 'ava'

import * as yappi from '../index'
import { ping, recurse } from './workloads/burn'

/** A sample's weight may reach back to the profile's start, just before `begin`: one interval. */
const EDGE_SECONDS = 0.001

function profileWall(run: () => void): { stats: yappi.FuncStats; wall: number } {
  yappi.clearStats()
  yappi.start({ intervalUs: 250 })
  const begin = process.hrtime.bigint()
  run()
  const wall = Number(process.hrtime.bigint() - begin) / 1e9
  const stats = yappi.getFuncStats()
  yappi.stop()
  return { stats, wall }
}

test.serial('direct recursion counts total time once: ttot never exceeds the wall time', (t) => {
  const { stats, wall } = profileWall(() => {
    for (let i = 0; i < 5; i++) recurse(20, 3)
  })
  const fn = stats.find('recurse')!
  t.true(fn.ttot <= wall + EDGE_SECONDS, `recurse ttot ${fn.ttot} <= wall ${wall}`)
  t.true(fn.ttot >= 0.8 * wall, `recurse ttot ${fn.ttot} covers most of ${wall}`)
  t.true(fn.nactualcall < fn.ncall, 'inner calls are recursive')
  const self = fn.callees.find((callee) => callee.name === 'recurse')
  t.truthy(self, 'recurse calls itself')
  t.true(self!.ttot <= fn.ttot)
})

test.serial('mutual recursion counts total time once for both functions', (t) => {
  const { stats, wall } = profileWall(() => {
    for (let i = 0; i < 5; i++) ping(20, 3)
  })
  for (const name of ['ping', 'pong']) {
    const fn = stats.find(name)!
    t.true(fn.ttot <= wall + EDGE_SECONDS, `${name} ttot ${fn.ttot} <= wall ${wall}`)
    t.true(fn.tsub < fn.ttot)
  }
  const ping_ = stats.find('ping')!
  const pong_ = stats.find('pong')!
  t.true(Math.abs(ping_.tsub - pong_.tsub) < 0.25 * ping_.tsub + 0.01, 'ping and pong spin alike')
  t.truthy(ping_.callees.find((callee) => callee.name === 'pong'))
  t.truthy(pong_.callees.find((callee) => callee.name === 'ping'))
})
