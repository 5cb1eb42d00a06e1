import test from 'ava'

import { YappiError } from '../src/errors'
import { native } from '../src/native'

test('the engine\'s refusals reach TypeScript as YappiError with the engine\'s code, the code taken off the message', (t) => {
  const unknownScope = t.throws(() => native.funcStats('no-such-scope', undefined), { instanceOf: YappiError })
  t.is(unknownScope?.code, 'ERR_YAPPI_BAD_INPUT')
  t.is(unknownScope?.message, "unknown stats scope 'no-such-scope'")
  const badClock = t.throws(() => native.begin('sundial', 1 << 20, 0, true, false), { instanceOf: YappiError })
  t.is(badClock?.code, 'ERR_YAPPI_BAD_INPUT')
  t.is(badClock?.message, "clock must be 'wall' or 'cpu', not 'sundial'")
  const notAReport = t.throws(() => native.loadStats(Buffer.from('{"format":"something else"}'), undefined), { instanceOf: YappiError })
  t.is(notAReport?.code, 'ERR_YAPPI_BAD_INPUT')
  t.false(native.isRunning(), 'a refused begin leaves the profiler stopped')
})

test('a saved file loads into a fresh loaded:<n> scope, read until it is dropped', (t) => {
  const scope = native.loadStats(native.exportStats('global', undefined, 'json'), undefined)
  t.regex(scope, /^loaded:\d+$/)
  t.notThrows(() => native.funcStats(scope, undefined))
  native.dropStats(scope)
  t.is(t.throws(() => native.funcStats(scope, undefined), { instanceOf: YappiError })?.code, 'ERR_YAPPI_BAD_INPUT')
})
