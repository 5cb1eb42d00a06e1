import test from 'ava'

import * as yappi from '../index'
import { ping, recurse } from './workloads/burn'

/**
 * Runs `run` under a 250 µs profiler. The first sample inside `run` weighs the time since the
 * sample before it, which may lie before `begin` (start() returns a moment after the profile
 * began, later on a loaded machine): so a function's time may pass `wall` by one sample gap.
 */
function profileWall(run: () => void): { stats: yappi.FuncStats; wall: number; gap: number } {
  yappi.clearStats()
  yappi.start({ intervalUs: 250 })
  const begin = process.hrtime.bigint()
  run()
  const wall = Number(process.hrtime.bigint() - begin) / 1e9
  const stats = yappi.getFuncStats()
  const gap = yappi.getThreadStats().get(0)?.maxSampleGap ?? 0
  yappi.stop()
  return { stats, wall, gap }
}

test.serial('direct recursion counts total time once: ttot never exceeds the wall time', (t) => {
  const { stats, wall, gap } = profileWall(() => {
    for (let i = 0; i < 5; i++) recurse(20, 3)
  })
  const fn = stats.find('recurse')!
  t.true(fn.ttot <= wall + gap, `recurse ttot ${fn.ttot} <= wall ${wall} + the first sample's reach, up to ${gap} s`)
  t.true(fn.ttot >= 0.8 * wall, `recurse ttot ${fn.ttot} covers most of ${wall}`)
  t.true(fn.nactualcall < fn.ncall, 'inner calls are recursive')
  const self = fn.callees.find((callee) => callee.name === 'recurse')
  t.truthy(self, 'recurse calls itself')
  t.true(self!.ttot <= fn.ttot)
})

test.serial('mutual recursion counts total time once for both functions', (t) => {
  const { stats, wall, gap } = profileWall(() => {
    for (let i = 0; i < 5; i++) ping(20, 3)
  })
  for (const name of ['ping', 'pong']) {
    const fn = stats.find(name)!
    t.true(fn.ttot <= wall + gap, `${name} ttot ${fn.ttot} <= wall ${wall} + the first sample's reach, up to ${gap} s`)
    t.true(fn.tsub < fn.ttot)
  }
  const ping_ = stats.find('ping')!
  const pong_ = stats.find('pong')!
  // Each level spins 3 ms, in spinB under ping and spinC under pong (or in ping and pong
  // themselves where V8 inlined the spin): the two sides hold half the run each, give or take
  // a sample gap at each of the 200 changes of side, which average out but for a few.
  const side = (fn: yappi.FuncStat, spin: string) => fn.tsub + (stats.find(spin)?.tsub ?? 0)
  const [pingSide, pongSide] = [side(ping_, 'spinB'), side(pong_, 'spinC')]
  t.true(Math.abs(pingSide - pongSide) < 0.25 * pingSide + 0.01 + 4 * gap, `ping and pong spin alike: ${pingSide} s and ${pongSide} s, gaps up to ${gap} s`)
  t.truthy(ping_.callees.find((callee) => callee.name === 'pong'))
  t.truthy(pong_.callees.find((callee) => callee.name === 'ping'))
})
