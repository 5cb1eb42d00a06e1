import test from 'ava'
import * as net from 'node:net'

import * as yappi from '../index'
import { eventually, request } from './support/http'
import { spinA } from './workloads/burn'

const TOKEN = 'test-token-0123456789abcdef'

// Whatever a test does to the server, nothing may reach the application as an exception.
const escaped: unknown[] = []
const onEscape = (error: unknown) => escaped.push(error)
test.before(() => {
  process.on('uncaughtException', onEscape)
  process.on('unhandledRejection', onEscape)
})
test.after.always(() => {
  process.off('uncaughtException', onEscape)
  process.off('unhandledRejection', onEscape)
})

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

/** Runs `body` with a fresh server, closed however `body` ends. */
async function withServer(options: yappi.ServeOptions, body: (server: yappi.YappiServer) => Promise<void>): Promise<void> {
  const server = await yappi.serve(options)
  try {
    await body(server)
  } finally {
    await server.close()
  }
}

test.serial('options are checked: a non-loopback host needs a token, and each wrong option is named', async (t) => {
  await t.throwsAsync(yappi.serve({ host: '0.0.0.0' }), { instanceOf: yappi.YappiError, message: /host "0\.0\.0\.0" is not a loopback address.*token/ })
  await t.throwsAsync(yappi.serve({ host: null as never }), { instanceOf: yappi.YappiError, message: /^host must be an address.*not null/ })
  await t.throwsAsync(yappi.serve({ port: 70000 }), { instanceOf: yappi.YappiError, message: /^port must be/ })
  await t.throwsAsync(yappi.serve({ token: 'short' }), { instanceOf: yappi.YappiError, message: /^token must be a string of at least 16/ })
  await t.throwsAsync(yappi.serve({ prot: 1 } as yappi.ServeOptions), { instanceOf: yappi.YappiError, message: /unknown option "prot"/ })
  t.throws(() => yappi.handler({ prefix: 'yappi' }), { instanceOf: yappi.YappiError, message: /^prefix must be/ })
  t.throws(() => yappi.handler({ prefix: '/yappi/' }), { instanceOf: yappi.YappiError, message: /^prefix must be/ })
  t.throws(() => yappi.handler({ maxSeconds: 0 }), { instanceOf: yappi.YappiError, message: /^maxSeconds must be a whole number from 1 to 3600/ })
  t.throws(() => yappi.handler({ port: 1 } as yappi.HandlerOptions), { instanceOf: yappi.YappiError, message: /unknown option "port"/ })
})

test.serial('serve() binds 127.0.0.1 by default, and close() frees the port even with a connection open', async (t) => {
  const server = await yappi.serve()
  t.is(server.host, '127.0.0.1')
  t.is(server.url, `http://127.0.0.1:${server.port}/`)
  // A keep-alive connection that stays open must not hold the port.
  const socket = net.connect(server.port, '127.0.0.1')
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
  socket.write(`GET /api/memory HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nConnection: keep-alive\r\n\r\n`)
  await new Promise<void>((resolve) => socket.once('data', () => resolve()))
  await server.close()
  const again = await yappi.serve({ port: server.port })
  t.is(again.port, server.port, 'the same port binds again at once')
  await again.close()
  socket.destroy()
  await t.throwsAsync(
    (async () => {
      const holder = await yappi.serve()
      try {
        await yappi.serve({ port: holder.port })
      } finally {
        await holder.close()
      }
    })(),
    { instanceOf: yappi.YappiError, message: /^cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/ },
  )
})

test.serial('bad parameters get 400 naming the parameter', async (t) => {
  yappi.start({ threads: false })
  await withServer({ maxSeconds: 60 }, async (server) => {
    const cases: [string, RegExp][] = [
      ['api/stats?limit=abc', /^yappi-node: parameter limit must be a whole number/],
      ['api/stats?limit=-1', /parameter limit/],
      ['api/stats?sort=bogus', /^yappi-node: parameter sort cannot sort by "bogus"/],
      ['api/stats?order=up', /^yappi-node: parameter order /],
      ['api/stats?thread=main', /^yappi-node: parameter thread must be thread ids/],
      ['api/stats?format=xml', /^yappi-node: parameter format must be one of json, text/],
      ['api/stats?limt=5', /^yappi-node: parameter limt is not a parameter of this path/],
      ['api/stats?name=a&name=b', /^yappi-node: parameter name is given more than once/],
      ['api/function', /^yappi-node: parameter id is required/],
      ['api/threads?format=csv', /parameter format/],
      ['api/tags?thread=-1', /parameter thread/],
      ['api/export/pprof?thread=x', /parameter thread/],
      ['debug/pprof/profile?seconds=0', /^yappi-node: parameter seconds must be a whole number from 1 to 60, not "0"/],
      ['debug/pprof/profile?seconds=61', /parameter seconds .* from 1 to 60/],
      ['debug/pprof/profile?seconds=1.5', /parameter seconds/],
      ['debug/pprof/profile?seconds=2&debug=2', /^yappi-node: parameter debug must be one of 0, 1/],
    ]
    for (const [path, message] of cases) {
      const answer = await request(`${server.url}${path}`)
      t.is(answer.status, 400, path)
      t.regex(answer.text, message, path)
    }
  })
})

test.serial("Go's profiles that we do not have answer 404 saying what is served; unknown paths too", async (t) => {
  await withServer({}, async (server) => {
    for (const name of ['heap', 'goroutine', 'allocs', 'block', 'mutex', 'threadcreate', 'cmdline', 'symbol', 'trace']) {
      const answer = await request(`${server.url}debug/pprof/${name}`)
      t.is(answer.status, 404, name)
      t.regex(answer.text, new RegExp(`Go's ${name} profile has no counterpart .* serves /debug/pprof/profile\\?seconds=N`), name)
    }
    const unknown = await request(`${server.url}debug/pprof/delta_heap`)
    t.is(unknown.status, 404)
    t.regex(unknown.text, /there is no profile "delta_heap".*serves \/debug\/pprof\/profile/)
    const index = await request(`${server.url}debug/pprof/`)
    t.is(index.status, 200)
    t.regex(index.text, /<a href="profile\?seconds=30">profile<\/a>/)
    const redirect = await request(`${server.url}debug/pprof`)
    t.is(redirect.status, 301)
    t.is(redirect.headers.location, '/debug/pprof/')
    t.is((await request(`${server.url}api/nothing`)).status, 404)
    t.is((await request(`${server.url}elsewhere`)).status, 404)
    t.is((await request(`${server.url}assets/../../package.json`)).status, 404)
  })
})

test.serial('the profile window says so when the profiler is not running', async (t) => {
  await withServer({}, async (server) => {
    const answer = await request(`${server.url}debug/pprof/profile?seconds=1`)
    t.is(answer.status, 503)
    t.regex(answer.text, /the profiler is not running/)
  })
})

test.serial('with a token, data needs it (header or query), the page files do not; a wrong one is refused', async (t) => {
  yappi.start({ threads: false })
  await withServer({ token: TOKEN }, async (server) => {
    const stats = `${server.url}api/stats?limit=1`
    const refused = await request(stats)
    t.is(refused.status, 401)
    t.is(refused.headers['www-authenticate'], 'Bearer realm="yappi-node"')
    t.is((await request(stats, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200)
    t.is((await request(`${stats}&token=${TOKEN}`)).status, 200)
    t.is((await request(`${stats}&token=${TOKEN}x`)).status, 401)
    t.is((await request(`${server.url}debug/pprof/profile?seconds=1`)).status, 401)
    t.is((await request(server.url)).status, 200, 'the page itself is public: it holds no data')
    t.is((await request(`${server.url}assets/page.js`)).status, 200)
  })
})

test.serial('control is POST with the token only: start, stop, clear', async (t) => {
  await withServer({}, async (server) => {
    const noToken = await request(`${server.url}api/start`, { method: 'POST' })
    t.is(noToken.status, 403)
    t.regex(noToken.text, /start needs a token, and this endpoint has none/)
    t.false(yappi.isRunning())
  })
  await withServer({ token: TOKEN }, async (server) => {
    const auth = { authorization: `Bearer ${TOKEN}` }
    const get = await request(`${server.url}api/start`, { headers: auth })
    t.is(get.status, 405)
    t.is(get.headers.allow, 'POST')
    t.is((await request(`${server.url}api/start`, { method: 'POST' })).status, 401)
    const bad = await request(`${server.url}api/start?intervalUs=0`, { method: 'POST', headers: auth })
    t.is(bad.status, 400)
    t.regex(bad.text, /parameter intervalUs must be/)
    const started = await request(`${server.url}api/start?threads=false&intervalUs=500&clock=cpu`, { method: 'POST', headers: auth })
    t.is(started.status, 200, started.text)
    t.true(yappi.isRunning())
    t.is(yappi.getThreadStats().clock, 'cpu')
    const twice = await request(`${server.url}api/start`, { method: 'POST', headers: auth })
    t.is(twice.status, 409)
    t.regex(twice.text, /already running/)
    spinA(50)
    t.true(yappi.getFuncStats().length > 0)
    t.is((await request(`${server.url}api/clear`, { method: 'POST', headers: auth })).status, 200)
    t.deepEqual(JSON.parse((await request(`${server.url}api/stop`, { method: 'POST', headers: auth })).text), { stopped: true, running: false })
    t.false(yappi.isRunning())
    t.is((await request(`${server.url}api/stats`, { method: 'POST', headers: auth })).status, 405, 'reads are GET')
  })
})

test.serial('without a token, serve() answers only requests that name this machine (no DNS rebinding)', async (t) => {
  await withServer({}, async (server) => {
    const rebound = await request(`${server.url}api/memory`, { headers: { host: `attacker.example:${server.port}` } })
    t.is(rebound.status, 403)
    t.regex(rebound.text, /Host "attacker\.example" is not this machine's/)
    t.is((await request(`${server.url}api/memory`, { headers: { host: `localhost:${server.port}` } })).status, 200)
  })
})

test.serial('profile windows are bounded; a client that goes away frees its window at once', async (t) => {
  yappi.start({ threads: false })
  await withServer({}, async (server) => {
    const sockets = Array.from({ length: 8 }, () => net.connect(server.port, '127.0.0.1'))
    try {
      for (const socket of sockets) socket.write(`GET /debug/pprof/profile?seconds=30 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`)
      // Eight windows open: a ninth is refused without waiting.
      await eventually('a ninth window is refused', async () => (await request(`${server.url}debug/pprof/profile?seconds=1`)).status === 429)
      const refused = await request(`${server.url}debug/pprof/profile?seconds=1`)
      t.regex(refused.text, /8 profile windows are open already/)
      t.truthy(refused.headers['retry-after'])
    } finally {
      for (const socket of sockets) socket.destroy()
    }
    const answer = await (async () => {
      let last = await request(`${server.url}debug/pprof/profile?seconds=1`)
      for (let attempt = 0; last.status === 429 && attempt < 40; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50))
        last = await request(`${server.url}debug/pprof/profile?seconds=1`)
      }
      return last
    })()
    t.is(answer.status, 200, 'the vanished clients released their windows')
  })
})

test.serial('a slow or silent client never stalls profiling, and malformed requests never reach the application', async (t) => {
  // A loaded machine makes rotations dearer, and the budget would space them out: lift it, so
  // that only a stalled profiler could keep them from coming every 50 ms.
  yappi.start({ threads: false, rotateIntervalMs: 50, rotationBudget: 0.5 })
  await withServer({}, async (server) => {
    // Half a request line, never finished; a full request whose answer is never read.
    const slow = net.connect(server.port, '127.0.0.1')
    const deaf = net.connect(server.port, '127.0.0.1')
    const broken = net.connect(server.port, '127.0.0.1')
    try {
      slow.write('GET /api/stats HTTP/1.1\r\nHost: 127.0')
      deaf.pause()
      deaf.write('GET /api/export/json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      broken.write('GET nonsense%zz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
      const profilesBefore = yappi.getThreadStats().toArray()[0]?.profiles ?? 0
      const started = Date.now()
      while (Date.now() - started < 600) {
        spinA(20)
        await new Promise((resolve) => setImmediate(resolve))
      }
      const threads = await request(`${server.url}api/threads`, { timeoutMs: 5_000 })
      t.is(threads.status, 200, 'other clients are answered meanwhile')
      const profilesAfter = (JSON.parse(threads.text) as { threads: { profiles: number }[] }).threads[0].profiles
      t.true(profilesAfter > profilesBefore + 3, `rotations went on: ${profilesBefore} -> ${profilesAfter} profiles`)
      t.true(yappi.getFuncStats().find('spinA') !== undefined)
      const answered = await request(`${server.url}api/../%zz/api/stats`)
      t.is(answered.status, 404)
    } finally {
      for (const socket of [slow, deaf, broken]) socket.destroy()
    }
  })
  t.deepEqual(escaped, [], 'nothing escaped to the application')
})
