import { snapshot } from '../api'
import { native } from '../native'
import { decodeThreadStats } from '../stats'
import { resolveOptions, type StartOptions } from '../options'
import { startWithoutWaiting, stopWithoutWaiting } from '../sampling/local'

/**
 * The side of `yappi-node attach` that runs in the target, reached through
 * `globalThis[Symbol.for(INSTANCE_KEY)]`. The package keeps process-global state, so an
 * attaching client must use the instance the target already loaded (from whatever path)
 * rather than load a second one that would fight it: every copy registers itself here at load,
 * and the client loads its own copy only when nothing is registered.
 */
export const INSTANCE_KEY = 'yappi-node'

/** What the client learns when it begins. */
export interface Begun {
  /** The target was already profiling (its own run): we read it and leave it running. */
  joined: boolean
  /** Not running, but holding stats of an earlier run of the application's: ours add to them. */
  addsToEarlier: boolean
  pid: number
  nodeVersion: string
  /** This instance's file: where the target loaded yappi-node from. */
  file: string
}

/** Everything an attaching client calls; every call is awaited by `Runtime.evaluate` (awaitPromise). */
export interface AttachSide {
  /**
   * `closeAtExit`: the client opened the inspector. A target that exits with a session
   * connected may print "Waiting for the debugger to disconnect..." to its stderr before it
   * has told the client (which then disconnects at once); closed at `exit`, before Node looks,
   * the inspector has no session.
   */
  begin(options: StartOptions, closeAtExit?: boolean): Promise<Begun>
  /** Every thread's stats so far, in the `json` format. */
  read(): Promise<string>
  /** Stops the run if the client started it, then returns the final stats as {@link read} does. */
  end(): Promise<string>
}

// Whether the run is an attaching client's (so its end stops it), and whether the stats were
// empty before it (so its end clears them: the application finds the engine as it left it).
// Process-global through the instance, like the rest of the state.
let ours = false
let clearAtEnd = false

function closeInspector(): void {
  try {
    process.getBuiltinModule('node:inspector').close()
  } catch {
    // Exiting anyway: the worst outcome is Node's line on stderr.
  }
}

function holdsStats(): boolean {
  return decodeThreadStats(native.threadStats('global')).toArray().length > 0
}

async function read(): Promise<string> {
  const stats = await snapshot()
  return stats.toBuffer('json').toString('utf8')
}

const side: AttachSide = {
  async begin(options, closeAtExit = false) {
    process.removeListener('exit', closeInspector)
    if (closeAtExit) process.once('exit', closeInspector)
    const joined = native.isRunning()
    const addsToEarlier = !joined && holdsStats()
    if (!joined) {
      await startWithoutWaiting(resolveOptions(options), 'tool')
      ours = true
      clearAtEnd = !addsToEarlier
    }
    return { joined, addsToEarlier, pid: process.pid, nodeVersion: process.version, file: __filename }
  },
  read,
  async end() {
    process.removeListener('exit', closeInspector)
    if (!ours) return read()
    ours = false
    await stopWithoutWaiting('tool')
    const final = await read()
    if (clearAtEnd) native.clearStats()
    return final
  },
}

/** Registers this instance unless another copy of yappi-node in the process did first. */
export function registerInstance(): void {
  const slot = Symbol.for(INSTANCE_KEY)
  const globals = globalThis as unknown as Record<symbol, unknown>
  if (globals[slot] === undefined) Object.defineProperty(globals, slot, { value: { attach: side }, configurable: true })
}
