import * as path from 'node:path'
import { pathToFileURL } from 'node:url'
import { isMainThread, threadId } from 'node:worker_threads'

import type { BindingThread } from '../binding'
import { AGENT_URL } from './sampling/agent'

/** This thread as stats name it: Node's `threadId` (0 on the main thread). */
export const thisThread: BindingThread = { id: threadId, name: isMainThread ? 'main' : `worker ${threadId}` }

// Compiled modules live in <package>/dist/src; frames from there, from the entry points and
// from the agent the profiler runs in every thread are the profiler's own: their time is cut
// out of the application's stats (see crates/engine/src/fold/mod.rs).
const distDir = path.resolve(__dirname, '..')
export const OWN_CODE_PREFIXES: string[] = [
  `${pathToFileURL(path.join(distDir, 'src')).href}/`,
  pathToFileURL(path.join(distDir, 'index.js')).href,
  pathToFileURL(path.join(distDir, '..', 'index.mjs')).href,
  AGENT_URL,
]
