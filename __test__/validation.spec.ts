import test from 'ava'

import * as yappi from '../index'

test.afterEach.always(() => {
  yappi.stop()
  yappi.clearStats()
})

/** Each bad value is refused with a YappiError that names the option; nothing starts. */
const BAD_START_OPTIONS: [string, unknown, RegExp][] = [
  ['clock', 'sundial', /^clock must be 'wall' or 'cpu', not "sundial"$/],
  ['clock', 1, /^clock must be/],
  ['intervalUs', 0, /^intervalUs must be a whole number of microseconds from 1 to 1000000, not 0$/],
  ['intervalUs', 2_000_000, /^intervalUs .* not 2000000$/],
  ['intervalUs', Number.NaN, /^intervalUs .* not NaN$/],
  ['intervalUs', '100', /^intervalUs .* not "100"$/],
  ['builtins', 'yes', /^builtins must be true or false, not "yes"$/],
  ['threads', 1, /^threads must be true or false, not 1$/],
  ['rotateIntervalMs', 5, /^rotateIntervalMs must be a whole number of milliseconds from 10 to 3600000, not 5$/],
  ['rotateIntervalMs', Infinity, /^rotateIntervalMs .* not Infinity$/],
  ['maxMemoryBytes', 1024, /^maxMemoryBytes must be a whole number of bytes from 65536 to \d+, not 1024$/],
  ['maxMemoryBytes', -1, /^maxMemoryBytes .* not -1$/],
  ['maxMemoryBytes', 10n, /^maxMemoryBytes .* not 10n$/],
  ['counts', 'precise', /^counts must be 'estimated' or 'exact', not "precise"$/],
  ['counts', true, /^counts must be 'estimated' or 'exact', not true$/],
]

test.serial('every option of start() is checked, and the error names it', (t) => {
  for (const [name, value, message] of BAD_START_OPTIONS) {
    const error = t.throws(() => yappi.start({ [name]: value } as yappi.StartOptions), { instanceOf: yappi.YappiError, message })
    t.true(error?.message.startsWith(name), `${name}: ${error?.message}`)
    t.false(yappi.isRunning())
  }
})

test.serial('unknown option names and non-object options are refused', (t) => {
  t.throws(() => yappi.start({ interval: 5 } as yappi.StartOptions), {
    instanceOf: yappi.YappiError,
    message: /^unknown option "interval"; known options: clock, intervalUs, builtins, rotateIntervalMs, maxMemoryBytes, threads, counts$/,
  })
  for (const options of ['fast', 42, null, [1]]) {
    t.throws(() => yappi.start(options as yappi.StartOptions), { instanceOf: yappi.YappiError, message: /^options must be an object/ })
  }
  t.throws(() => yappi.profile(() => 1, { threads: false } as yappi.ProfileOptions), { instanceOf: yappi.YappiError, message: /^unknown option "threads"/ })
  t.false(yappi.isRunning())
})

test.serial('filters: keys, value types and thread ids are checked', (t) => {
  const cases: [unknown, RegExp][] = [
    [{ name: 42 }, /^filter\.name must be a string or a RegExp, not 42$/],
    [{ module: {} }, /^filter\.module must be a string or a RegExp, not an object$/],
    [{ thread: 0 }, /^unknown filter key "thread"; known keys: name, module, threadId, tag$/],
    [{ threadId: -1 }, /^filter\.threadId must be a thread id/],
    [{ threadId: [0, 1.5] }, /^filter\.threadId must be a thread id/],
    ['main', /^filter must be an object, not "main"$/],
    [null, /^filter must be an object, not null$/],
  ]
  for (const [filter, message] of cases) {
    t.throws(() => yappi.getFuncStats(filter as yappi.FuncFilter), { instanceOf: yappi.YappiError, message })
  }
  const stats = yappi.getFuncStats()
  t.throws(() => stats.filter({ threadId: 0 } as yappi.FuncFilter), { instanceOf: yappi.YappiError, message: /filter\.threadId/ })
  t.throws(() => stats.filter(7 as unknown as yappi.FuncPredicate), { instanceOf: yappi.YappiError, message: /^filter must be a function or an object/ })
})

test.serial('sort keys and orders are checked, for functions and threads', (t) => {
  const stats = yappi.getFuncStats()
  t.throws(() => stats.sort('speed'), { instanceOf: yappi.YappiError, message: /^cannot sort by "speed"; sort keys: name, module/ })
  t.throws(() => stats.sort(3 as unknown as string), { instanceOf: yappi.YappiError, message: /^cannot sort by 3/ })
  t.throws(() => stats.sort('ttot', 'up'), { instanceOf: yappi.YappiError, message: /^sort order must be 'asc' or 'desc', not "up"$/ })
  t.throws(() => stats.sort((stat) => stat.ttot, 'sideways'), { instanceOf: yappi.YappiError, message: /^sort order/ })
  t.notThrows(() => stats.sort('TotalTime', 'ASC'), "yappi's aliases, any case")
  const threads = yappi.getThreadStats()
  t.throws(() => threads.sort('cpu' as yappi.ThreadSortKey), { instanceOf: yappi.YappiError, message: /^cannot sort threads by "cpu"/ })
  t.throws(() => threads.sort('id', 'up'), { instanceOf: yappi.YappiError, message: /^sort order/ })
})

test.serial('print options are checked', (t) => {
  const stats = yappi.getFuncStats()
  t.throws(() => stats.format({ limit: -1 }), { instanceOf: yappi.YappiError, message: /^limit must be a whole number >= 0, not -1$/ })
  t.throws(() => stats.format({ columns: [] }), { instanceOf: yappi.YappiError, message: /^columns must be a non-empty list/ })
  t.throws(() => stats.format({ columns: [['ttot', 2]] }), { instanceOf: yappi.YappiError, message: /^width of column ttot must be a whole number >= 3, not 2$/ })
  t.throws(() => stats.format({ columns: ['speed' as yappi.Column] }), { instanceOf: yappi.YappiError, message: /^unknown column "speed"/ })
})
