import test from 'ava'
import type { AddressInfo } from 'node:net'
import type { Server } from 'node:http'
import { gunzipSync } from 'node:zlib'
import { Profile } from 'pprof-format'

import * as yappi from '../index'
import { createApp as createExpressApp } from '../examples/http-express'
import { createApp as createFastifyApp } from '../examples/http-fastify'
import { createServer as createNodeServer } from '../examples/http-node'
import { request } from './support/http'

// The handler mounted in each framework as examples/ mount it, under /yappi, with a token:
// the application's own route still answers, and the page, the API, control and pprof work.
const TOKEN = 'frameworks-token-0123456789'
const AUTH = { authorization: `Bearer ${TOKEN}` }

interface Mounted {
  base: string
  close(): Promise<void>
}

async function listening(server: Server): Promise<Mounted> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const FRAMEWORKS: [string, () => Promise<Mounted>][] = [
  ['node:http', () => listening(createNodeServer({ token: TOKEN }))],
  ['Express', () => listening(createExpressApp({ token: TOKEN }).listen(0, '127.0.0.1'))],
  [
    'Fastify',
    async () => {
      const app = createFastifyApp({ token: TOKEN })
      const address = await app.listen({ port: 0, host: '127.0.0.1' })
      return { base: address.replace('localhost', '127.0.0.1'), close: () => app.close() }
    },
  ],
]

/**
 * A spin of its own for each framework's test. One function shared by the three would be hot,
 * optimized on the stack, when the second and third tests start the profiler; what that costs
 * its naming (and how `deoptimize` remedies it) is the transport tests' subject, not this file's.
 */
function spinNamed(name: string): (ms: number) => void {
  return new Function(`return function ${name}(ms) { const until = performance.now() + ms; while (performance.now() < until); }`)() as (ms: number) => void
}

test.afterEach.always(async () => {
  yappi.stop()
  await yappi.snapshot()
  yappi.clearStats()
})

for (const [name, mount] of FRAMEWORKS) {
  test.serial(`${name}: the app's own routes, the page, the API, control and a pprof window under /yappi`, async (t) => {
    yappi.start({ threads: false, intervalUs: 500 })
    const spinName = `spin${name.replace(/\W/g, '')}`
    const spin = spinNamed(spinName)
    const app = await mount()
    try {
      const own = await request(`${app.base}/items/7`)
      t.is(own.status, 200, "the application's route")
      t.regex(own.text, /^\{/)

      const bare = await request(`${app.base}/yappi`)
      t.is(bare.status, 301, 'the root without its slash is redirected (the page links relatively)')
      t.is(bare.headers.location, '/yappi/')
      const page = await request(`${app.base}/yappi/`)
      t.is(page.status, 200)
      t.regex(page.text, /<title>yappi-node<\/title>/)
      t.is((await request(`${app.base}/yappi/assets/speedscope/index.html`)).status, 200, "speedscope's own files")

      spin(100)
      t.is((await request(`${app.base}/yappi/api/stats`)).status, 401, 'data needs the token')
      const stats = await request(`${app.base}/yappi/api/stats?name=${spinName}`, { headers: AUTH })
      t.is(stats.status, 200, stats.text)
      const [row] = (JSON.parse(stats.text) as { functions: yappi.FuncStat[] }).functions
      t.is(row?.name, spinName)
      t.true(row.ttot >= 0.05, `${spinName} ran 100 ms: ${row.ttot} s`)

      const windowed = setInterval(() => spin(20), 30)
      let pprof
      try {
        pprof = await request(`${app.base}/yappi/debug/pprof/profile?seconds=1`, { headers: AUTH })
      } finally {
        clearInterval(windowed)
      }
      t.is(pprof.status, 200)
      const profile = Profile.decode(gunzipSync(pprof.body))
      t.true(profile.stringTable.strings.includes(spinName), 'the window holds what ran in it')

      t.truthy(yappi.getFuncStats().find(spinName), 'the spin is in the stats (and the running profile folded) before the clear')
      const cleared = await request(`${app.base}/yappi/api/clear`, { method: 'POST', headers: AUTH })
      t.is(cleared.status, 200, cleared.text)
      t.is(yappi.getFuncStats().find(spinName), undefined, 'clear went through')
      t.is((await request(`${app.base}/yappi/debug/pprof/heap`, { headers: AUTH })).status, 404)
    } finally {
      await app.close()
    }
  })
}
