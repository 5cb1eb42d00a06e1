import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import { isMainThread, threadId } from 'node:worker_threads'

import type { BindingThread } from '../binding'

/** This thread as stats name it: Node's `threadId` (0 on the main thread). */
export const thisThread: BindingThread = { id: threadId, name: isMainThread ? 'main' : `worker ${threadId}` }

// Compiled modules live in <package>/dist/src; frames from there (and dist/index.js) are the
// profiler's own and always fold into the application code that called them.
const distDir = path.resolve(__dirname, '..')
export const OWN_CODE_PREFIXES: string[] = [
  `${pathToFileURL(path.join(distDir, 'src')).href}/`,
  pathToFileURL(path.join(distDir, 'index.js')).href,
]

/** Global (by `Symbol.for`) state that the main thread's code evaluated in a worker keeps there. */
export const WORKER_STATE_KEY = 'yappi-node.worker'
/** Global (by `Symbol.for`) entry points of this module's tag recorder, for that same code. */
export const TAGS_KEY = 'yappi-node.tags'
