import * as fs from 'node:fs'
import * as http from 'node:http'
import type { AddressInfo } from 'node:net'
import * as path from 'node:path'

import { seededRandom } from './measure'

/** The repository root: compiled benches live in <root>/dist/benches. */
export const REPO_ROOT = path.resolve(__dirname, '..', '..')

export type Size = 'quick' | 'full'

/** One opened workload: `run()` does a fixed amount of work and returns how many units it did. */
export interface WorkloadSession {
  run(): Promise<number>
  close(): Promise<void>
}

/** A real program nobody here wrote, driven with a fixed amount of work. */
export interface Workload {
  name: string
  what: string
  /** CPU-bound workloads carry the 2% overhead target; the HTTP ones are judged against the peers only. */
  cpuBound: boolean
  /** What one unit of `run()` is, for throughput columns ("requests"), or undefined for time only. */
  unit?: string
  /** Measured runs per child process, after one warm-up run. */
  runs: Record<Size, number>
  open(size: Size): Promise<WorkloadSession>
}

const synchronous = (work: () => void): WorkloadSession => ({
  async run() {
    work()
    return 1
  },
  async close() {},
})

/** The TypeScript compiler type-checking this repository, from scratch each time (no reuse). */
const tsc: Workload = {
  name: 'tsc',
  what: 'TypeScript compiler API: createProgram + getPreEmitDiagnostics over this repository (tsconfig.json)',
  cpuBound: true,
  runs: { quick: 1, full: 3 },
  async open() {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const ts: typeof import('typescript') = require('typescript')
    const configPath = path.join(REPO_ROOT, 'tsconfig.json')
    const config = ts.readConfigFile(configPath, ts.sys.readFile)
    const parsed = ts.parseJsonConfigFileContent(config.config, ts.sys, REPO_ROOT)
    const options = { ...parsed.options, noEmit: true }
    // Children run in a scratch directory; type libraries (@types/node) resolve from the repository.
    const host = ts.createCompilerHost(options)
    host.getCurrentDirectory = () => REPO_ROOT
    return synchronous(() => {
      const program = ts.createProgram(parsed.fileNames, options, host)
      const diagnostics = ts.getPreEmitDiagnostics(program)
      if (diagnostics.length > 0) {
        const first = ts.flattenDiagnosticMessageText(diagnostics[0].messageText, '\n')
        throw new Error(`tsc workload: ${diagnostics.length} diagnostics (first: ${diagnostics[0].file?.fileName ?? ''} ${first}); the repository should type-check`)
      }
    })
  },
}

/**
 * A JavaScript parser over one of the TypeScript compiler's bundles: `parse(source)` returns the
 * number of top-level statements, which must not be zero.
 */
function parserWorkload(name: string, what: string, runs: Record<Size, number>, bundle: string, load: () => (source: string) => number): Workload {
  return {
    name,
    what,
    cpuBound: true,
    runs,
    async open() {
      const parse = load()
      const source = fs.readFileSync(require.resolve(`typescript/lib/${bundle}`), 'utf8')
      return synchronous(() => {
        if (parse(source) === 0) throw new Error(`${name} workload: empty AST`)
      })
    },
  }
}

/** acorn parsing the TypeScript compiler's own 9 MB bundle. */
const acorn = parserWorkload('acorn', 'acorn.parse of typescript/lib/typescript.js (9 MB of JavaScript), with locations', { quick: 2, full: 4 }, 'typescript.js', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require('acorn') as typeof import('acorn')
  return (source) => parse(source, { ecmaVersion: 'latest', sourceType: 'script', locations: true }).body.length
})

/** A deterministic Markdown document using most of CommonMark and GFM: headings, lists, tables, code. */
export function generateMarkdown(sections: number): string {
  const random = seededRandom(7)
  const words = ['profiler', 'sample', 'stack', 'frame', 'thread', 'worker', 'engine', 'fold', 'rotation', 'snapshot', 'budget', 'caller', 'callee', 'inline', 'async', 'await']
  const word = () => words[Math.floor(random() * words.length)]
  const sentence = (n: number) => {
    const parts: string[] = []
    for (let i = 0; i < n; i++) {
      const w = word()
      const r = random()
      parts.push(r < 0.05 ? `**${w}**` : r < 0.1 ? `*${w}*` : r < 0.13 ? `\`${w}()\`` : r < 0.15 ? `[${w}](https://example.com/${w})` : w)
    }
    return `${parts.join(' ')}.`
  }
  const out: string[] = []
  for (let s = 0; s < sections; s++) {
    out.push(`## Section ${s}: ${word()} ${word()}`, '')
    for (let p = 0; p < 3; p++) out.push(sentence(20 + Math.floor(random() * 40)), '')
    for (let i = 0; i < 5; i++) out.push(`${i % 2 ? '-' : '1.'} ${sentence(8)}`)
    out.push('', '> ' + sentence(15), '')
    out.push('```js', `function ${word()}${s}(a, b) {`, `  return a + b * ${s}`, '}', '```', '')
    out.push('| name | calls | time |', '| --- | ---: | ---: |')
    for (let r = 0; r < 4; r++) out.push(`| ${word()} | ${Math.floor(random() * 1000)} | ${random().toFixed(3)} |`)
    out.push('')
  }
  return out.join('\n')
}

/** marked rendering a large generated document to HTML. */
const markdown: Workload = {
  name: 'marked',
  what: 'marked.parse of a generated Markdown document (GFM: lists, tables, code, links)',
  cpuBound: true,
  runs: { quick: 2, full: 4 },
  async open(size) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { marked } = require('marked') as typeof import('marked')
    const document = generateMarkdown(size === 'quick' ? 1500 : 3000)
    return synchronous(() => {
      const html = marked.parse(document, { async: false })
      if (html.length < document.length) throw new Error('marked workload: output shorter than input')
    })
  },
}

/**
 * A bounded loopback load from this same process: `connections` keep-alive clients each send
 * requests one after another until `total` have been answered.
 */
async function load(port: number, total: number, connections: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections })
  let sent = 0
  const client = async () => {
    while (sent < total) {
      sent++
      await new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: `/item/${sent}`, agent }, (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (chunk: string) => (body += chunk))
            res.on('end', () => {
              if (res.statusCode !== 200 || !body.startsWith('{')) reject(new Error(`bad answer ${res.statusCode}: ${body.slice(0, 80)}`))
              else resolve()
            })
          })
          .on('error', reject)
      })
    }
  }
  await Promise.all(Array.from({ length: connections }, client))
  agent.destroy()
  return total
}

/** What both servers answer: a small JSON document computed from the request. */
function answer(id: string): { id: string; items: { n: number; square: number }[] } {
  const n = Number(id) % 50
  return { id, items: Array.from({ length: 10 }, (_, i) => ({ n: n + i, square: (n + i) * (n + i) })) }
}

const requestsPerRun = (size: Size) => (size === 'quick' ? 3000 : 6000)
const CONNECTIONS = 16

const nodeHttp: Workload = {
  name: 'node:http',
  what: `node:http server, ${CONNECTIONS} keep-alive loopback clients in the same process, JSON answers`,
  cpuBound: false,
  unit: 'req',
  runs: { quick: 2, full: 4 },
  async open(size) {
    const server = http.createServer((req, res) => {
      const body = JSON.stringify(answer(req.url?.split('/')[2] ?? '0'))
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
      res.end(body)
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    return {
      run: () => load(port, requestsPerRun(size), CONNECTIONS),
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  },
}

const fastify: Workload = {
  name: 'fastify',
  what: `fastify server (route with params, JSON serialization), ${CONNECTIONS} keep-alive loopback clients in the same process`,
  cpuBound: false,
  unit: 'req',
  runs: { quick: 2, full: 4 },
  async open(size) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Fastify = require('fastify') as typeof import('fastify').default
    const app = Fastify({ logger: false })
    app.get<{ Params: { id: string } }>('/item/:id', async (request) => answer(request.params.id))
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    return {
      run: () => load(port, requestsPerRun(size), CONNECTIONS),
      close: () => app.close(),
    }
  },
}

export const WORKLOADS: readonly Workload[] = [tsc, acorn, markdown, nodeHttp, fastify]

/** @babel/parser parsing the TypeScript compiler's command-line bundle. */
const babel = parserWorkload('babel', '@babel/parser parse of typescript/lib/_tsc.js (6 MB of JavaScript)', { quick: 1, full: 2 }, '_tsc.js', () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { parse } = require('@babel/parser') as typeof import('@babel/parser')
  return (source) => parse(source, { sourceType: 'script' }).program.body.length
})

/** A JSON round trip of a generated document of a few MB: V8's serializer and parser, and the garbage. */
const json: Workload = {
  name: 'json',
  what: 'JSON.stringify + JSON.parse of a generated 2 MB document, 20 times',
  cpuBound: true,
  runs: { quick: 2, full: 4 },
  async open() {
    const random = seededRandom(11)
    const document = Array.from({ length: 20_000 }, (_, i) => ({ id: i, name: `item-${i}`, score: random(), tags: [`t${i % 13}`, `u${i % 7}`], nested: { a: i % 3, b: [i, i + 1] } }))
    return synchronous(() => {
      let total = 0
      for (let i = 0; i < 20; i++) total += (JSON.parse(JSON.stringify(document)) as unknown[]).length
      if (total !== 20 * document.length) throw new Error('json workload: lost rows')
    })
  },
}

/** Workloads of the thread benches (benches/busy-workers.ts), not of the overhead table. */
export const THREAD_WORKLOADS: readonly Workload[] = [babel, json]

export function workloadNamed(name: string): Workload {
  const found = [...WORKLOADS, ...THREAD_WORKLOADS].find((w) => w.name === name)
  if (!found) throw new Error(`unknown workload ${name}; known: ${WORKLOADS.map((w) => w.name).join(', ')}`)
  return found
}
