// Work that runs mostly through Node's own JavaScript: loading a module afresh (resolving,
// reading and compiling it), JSON, synchronous and asynchronous fs, timers. With builtins
// hidden, many of its samples show no frame of this file at all. Run as a worker, it does the
// same when told to, for as many ms as the message says, and posts its result.
import * as fs from 'node:fs'
import { isMainThread, parentPort, workerData } from 'node:worker_threads'

const DOCUMENT = JSON.stringify(Array.from({ length: 2000 }, (_, i) => ({ id: i, tags: ['a', `t${i % 7}`] })))

export async function throughNodeInternals(ms: number): Promise<number> {
  const end = Date.now() + ms
  const module = require.resolve('acorn')
  let sink = 0
  while (Date.now() < end) {
    delete require.cache[module]
    sink += Object.keys(require(module) as object).length
    sink += (JSON.parse(DOCUMENT) as unknown[]).length
    sink += fs.readFileSync(__filename).length + (await fs.promises.readFile(__filename)).length
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
  return sink
}

export const INTERNALS_WORKER_FILE = __filename

if (!isMainThread && workerData?.internals) {
  parentPort?.once('message', (ms: number) => void throughNodeInternals(ms).then((sink) => parentPort?.postMessage(sink)))
}
