import * as vm from 'node:vm'
import { threadId } from 'node:worker_threads'

/**
 * The code of ours that runs inside every profiled thread: it starts, rotates and ends the
 * thread's V8 profile, reads the thread's CPU clock at each profile boundary, and calls the
 * coverage canary. The profiler thread installs it by evaluating {@link agentSource} in a
 * thread (through the inspector); a thread that runs yappi-node itself installs the same code
 * with {@link localAgent}. Either way its frames carry {@link AGENT_URL}, so the fold cuts the
 * time they take (V8 serializing the ended profile, mostly) out of the thread's stats.
 *
 * It is plain JavaScript that uses no module of ours and nothing of libuv except, on Node
 * ≥ 24.12, a `BroadcastChannel`: Node 20 crashes when a command-line-API evaluation or a libuv
 * call is dispatched to a worker during `terminate()`.
 */

/** `globalThis[Symbol.for(AGENT_KEY)]` holds a thread's agent. */
export const AGENT_KEY = 'yappi-node.agent'
/** The script URL of the agent's frames in every profile. */
export const AGENT_URL = 'yappi-node:agent'
/** Where agents post profiles in `handle` mode (to the profiler thread). */
export const PROFILES_CHANNEL = 'yappi-node:profiles'
/** Console profile titles: `yappi-node:<thread>:<seq>:<cpu µs at its start>`, `:end` for a terminal one. */
export const TITLE_PREFIX = 'yappi-node:'
/** The tag recorder's entry points in a thread that loaded yappi-node (see src/tags.ts). */
export const TAGS_KEY = 'yappi-node.tags'

/**
 * How a thread's profiles are produced:
 * - `handle`: `v8.startCpuProfile()` (Node ≥ 24.12): the next profile starts before the last is
 *   stopped, which keeps V8's profiler alive; the JSON string goes to the profiler thread over
 *   a `BroadcastChannel`.
 * - `console`: `console.profile(next); console.profileEnd(last)`, received by the profiler
 *   thread's inspector session as `Profiler.consoleProfileFinished`.
 * - `protocol`: `Profiler.stop` and `Profiler.start` sent by the profiler thread, where console
 *   profiles would reach another tool's session (`--cpu-prof`, `NODE_V8_COVERAGE`): Node's own
 *   sessions print every console-profile event they do not expect to stderr.
 * - `session`: the main thread under another tool's precise coverage (`NODE_V8_COVERAGE`, c8)
 *   before Node 24.12: `Profiler.stop` and `start` on a session of the agent's own on this
 *   thread, never closed, the profile posted like a handle's. Closing a session that enabled
 *   the Profiler domain ends precise coverage for the thread (the other tool's report would lose
 *   its counts), and the profiler thread's session to the main thread is closed at exit.
 */
export type SamplingMode = 'handle' | 'console' | 'protocol' | 'session'

export interface AgentStart {
  mode: SamplingMode
  intervalUs: number
  /** Exact counts: coverage must be taken with every rotation, so only the profiler thread rotates. */
  exact: boolean
  /** Handle mode: at the run's end, leave a {@link KEEPER} profile running until the next begin. */
  keepAlive: boolean
}

/**
 * A profile that keeps V8's CpuProfiler alive between runs (Node's handles that take options,
 * Node 26): one sample a second, one kept. While any profile runs, V8 logs code as it is
 * made; when the last one stops it forgets all code, and the next start logs every function of
 * the heap again (115–350 ms on a thread that loaded the TypeScript compiler, against 0.1–7 ms
 * with a keeper), and code V8 optimized on the stack meanwhile is never named (see
 * `StartOptions.deoptimize`).
 */
const KEEPER = { sampleInterval: 1000, maxBufferSize: 1 }

/** What one rotation (or end) produced: profile `seq`, the thread's CPU clock (µs; -1: unknown) at its start and end, and the milliseconds it cost this thread. */
export type Ended = [seq: number, cpuStartUs: number, cpuEndUs: number, ms: number]

/**
 * A rotation or end that did nothing itself: another is under way in the thread (an interrupt
 * landed inside it) or the profile already ended; `waitFor` is the profile that one ends or ended.
 */
export interface Already {
  waitFor: number
}

/** A worker in protocol mode that exits: its last profile is the profiler thread's to stop. */
export interface Exiting {
  thread: number
  exiting: true
}

/** A profile as posted to {@link PROFILES_CHANNEL}: handle mode's JSON, or session mode's profile object. */
export interface PostedProfile {
  thread: number
  seq: number
  cpuStartUs: number
  cpuEndUs: number
  ms: number
  json?: string
  profile?: object
  /** The thread's last profile: none runs after it. */
  last: boolean
}

export interface Agent {
  readonly thread: number
  readonly mode: SamplingMode | undefined
  readonly running: boolean
  readonly exact: boolean
  /** The last profile started. */
  readonly seq: number
  /** A {@link KEEPER} runs: V8 has logged code without a gap since the last run. */
  readonly keeping: boolean
  /** {@link Agent.now} when the last profile ended (-Infinity before), and which it was (0: none). */
  readonly lastEndedAt: number
  readonly lastEnded: number
  begin(start: AgentStart): [seq: number, cpuUs: number]
  /** Ends the running profile and starts the next. */
  rotate(): Ended | Already
  /** Ends the run's last profile; with `keep` (the default; not when the thread exits), a {@link KEEPER} follows it. */
  end(keep?: boolean): Ended | Already
  /** Calls the coverage canary; answers the milliseconds since its last call. */
  canary(): number
  /** The thread's CPU clock in µs, -1 where it cannot be read. */
  cpu(): number
  /**
   * A monotonic clock in ms: `process.hrtime()`. Not `performance.now()`: an interrupt can land
   * while a worker is still bootstrapping, before the `performance` global exists.
   */
  now(): number
}

interface AgentConstants {
  /**
   * The thread's id, from whoever installs the agent: a worker that waits for the debugger is
   * reached before its bootstrap, when `worker_threads.threadId` is still undefined.
   */
  thread: number
  key: string
  channel: string
  prefix: string
  tags: string
  keeper: { sampleInterval: number; maxBufferSize: number }
}

/**
 * Installed once per thread (the first caller wins; later calls return the same agent). Runs
 * as the source text of this function: it must not refer to anything outside itself.
 */
function installAgent(constants: AgentConstants): Agent {
  const slot = Symbol.for(constants.key)
  const scope = globalThis as unknown as Record<symbol, Agent | undefined>
  const existing = scope[slot]
  if (existing) return existing
  const builtin = (name: string): any => (process as any).getBuiltinModule(name)
  const thread = constants.thread
  const tags = (): { rotate(): void; stop(): void } | undefined => (globalThis as any)[Symbol.for(constants.tags)]
  // Captured now, so that an application replacing console methods cannot break rotation.
  const consoleProfile = console.profile.bind(console)
  const consoleProfileEnd = console.profileEnd.bind(console)
  const title = (seq: number, cpuUs: number, terminal = false): string => `${constants.prefix}${thread}:${seq}:${cpuUs}${terminal ? ':end' : ''}`
  let fs: any
  function yappiCoverageCanary(): void {}
  const state = {
    thread,
    mode: undefined as string | undefined,
    running: false,
    exact: false,
    busy: false,
    seq: 0,
    cpuAt: -1,
    handle: undefined as any,
    keeper: undefined as any,
    keepAlive: false,
    get keeping(): boolean {
      return state.keeper !== undefined
    },
    channel: undefined as any,
    canaryAt: undefined as number | undefined,
    exitHooked: false,
    interval: 1000,
    lastEndedAt: -Infinity,
    /** The profile a rotation or end under way ends, and the last one ended. */
    ending: undefined as number | undefined,
    lastEnded: 0,
    cpu(): number {
      try {
        const threadCpuUsage = (process as any).threadCpuUsage
        if (typeof threadCpuUsage === 'function') {
          const usage = threadCpuUsage.call(process)
          return usage.user + usage.system
        }
        fs ??= builtin('fs')
        const schedstat: string = fs.readFileSync('/proc/thread-self/schedstat', 'latin1')
        return Math.round(Number(schedstat.slice(0, schedstat.indexOf(' '))) / 1000)
      } catch {
        return -1
      }
    },
    session: undefined as any,
    /** Session mode: a request on the agent's own session, answered synchronously. */
    post(method: string, params: object = {}): any {
      let answer: any
      let failure: any
      state.session.post(method, params, (error: any, result: any) => {
        failure = error
        answer = result
      })
      if (failure) throw failure
      return answer
    },
    startProfile(): void {
      if (state.mode === 'handle') {
        const v8 = builtin('v8')
        state.handle = v8.startCpuProfile.length > 0 ? v8.startCpuProfile({ sampleInterval: state.interval / 1000 }) : v8.startCpuProfile()
      } else if (state.mode === 'console') {
        consoleProfile(title(state.seq, state.cpuAt))
      } else if (state.mode === 'session') {
        if (!state.session) {
          state.session = new (builtin('inspector').Session)()
          state.session.connect()
          state.post('Profiler.enable')
        }
        // One profile per session: the last one must end first (and V8 logs all code again).
        if (state.sessionProfiling) state.stopped = state.post('Profiler.stop').profile
        else state.post('Profiler.setSamplingInterval', { interval: state.interval })
        state.post('Profiler.start')
        state.sessionProfiling = true
      }
    },
    /** Session mode: whether the session's profile runs, and the profile a rotation just stopped. */
    sessionProfiling: false,
    stopped: undefined as object | undefined,
    /** Ends profile `seq` (started with CPU `cpuStart`); the next one, if any, already runs. */
    finishProfile(seq: number, handle: any, cpuStart: number, cpuEnd: number, started: number): Ended {
      state.lastEndedAt = started
      state.lastEnded = seq
      if (state.mode === 'session') {
        const profile = state.stopped ?? state.post('Profiler.stop').profile
        state.stopped = undefined
        state.sessionProfiling = state.running
        const ms = state.now() - started
        state.channel.postMessage({ thread, seq, cpuStartUs: cpuStart, cpuEndUs: cpuEnd, ms, profile, last: !state.running })
        return [seq, cpuStart, cpuEnd, ms]
      }
      if (state.mode === 'handle') {
        const json = handle.stop()
        const ms = state.now() - started
        state.channel.postMessage({ thread, seq, cpuStartUs: cpuStart, cpuEndUs: cpuEnd, ms, json, last: !state.running })
        return [seq, cpuStart, cpuEnd, ms]
      }
      if (state.mode === 'console') consoleProfileEnd(title(seq, cpuStart))
      return [seq, cpuStart, cpuEnd, state.now() - started]
    },
    /** Handle mode, at a run's end: the keeper starts before the last profile stops, so V8's profiler never stops. */
    keep(): void {
      if (state.mode !== 'handle' || !state.keepAlive || state.keeper) return
      try {
        state.keeper = builtin('v8').startCpuProfile(constants.keeper)
      } catch {
        // Without it the next start() logs all code again: slower, not wrong.
      }
    },
    /** Once the next profile runs: the keeper's profile holds nothing anyone reads. */
    release(): void {
      const keeper = state.keeper
      state.keeper = undefined
      try {
        keeper?.stop()
      } catch {
        // Already stopped with its thread's profiler: nothing is lost.
      }
    },
    begin(start: { mode: string; intervalUs: number; exact: boolean; keepAlive: boolean }): [number, number] {
      if (state.running) return [state.seq, state.cpuAt]
      state.mode = start.mode
      state.interval = start.intervalUs
      state.exact = start.exact
      state.keepAlive = start.keepAlive
      if ((start.mode === 'handle' || start.mode === 'session') && !state.channel) {
        state.channel = new BroadcastChannel(constants.channel)
        state.channel.unref?.()
      }
      state.cpuAt = state.cpu()
      state.seq++
      state.startProfile()
      state.release()
      state.running = true
      tags()?.rotate()
      if (!state.exitHooked && thread !== 0 && typeof process.once === 'function') {
        state.exitHooked = true
        // A worker that ends normally keeps its last profile.
        process.once('exit', () => (state.mode === 'protocol' ? state.handOver() : state.end(false)))
      }
      return [state.seq, state.cpuAt]
    },
    already(): { waitFor: number } {
      return { waitFor: state.ending ?? state.lastEnded }
    },
    /**
     * Runs a rotation or end of the running profile, unless one is under way (an interrupt that
     * landed inside it) or none runs: then says which profile that one ends or ended.
     */
    exclusive(body: (started: number) => Ended): unknown {
      if (!state.running || state.busy) return state.already()
      state.busy = true
      state.ending = state.seq
      try {
        return body(state.now())
      } finally {
        state.busy = false
        state.ending = undefined
      }
    },
    rotate(): unknown {
      return state.exclusive((started) => {
        // The tag switches up to the profile's end go first: the engine joins them with its samples.
        tags()?.rotate()
        const seq = state.seq
        const cpuStart = state.cpuAt
        const handle = state.handle
        const cpuEnd = state.cpu()
        // The next profile starts before this one ends (so V8 keeps its profiler): if it cannot,
        // this one runs on, and the next rotation tries again.
        state.seq++
        state.cpuAt = cpuEnd
        try {
          state.startProfile()
        } catch (error) {
          state.seq--
          state.cpuAt = cpuStart
          throw error
        }
        return state.finishProfile(seq, handle, cpuStart, cpuEnd, started)
      })
    },
    end(keep = true): unknown {
      return state.exclusive((started) => {
        try {
          tags()?.stop()
          state.running = false
          const cpuEnd = state.cpu()
          if (state.mode === 'console') {
            // A profile's end CPU travels in the next one's title: a terminal profile carries the last.
            consoleProfile(title(state.seq + 1, cpuEnd, true))
            const ended = state.finishProfile(state.seq, undefined, state.cpuAt, cpuEnd, started)
            consoleProfileEnd(title(state.seq + 1, cpuEnd, true))
            state.seq++
            return ended
          }
          if (keep) state.keep()
          return state.finishProfile(state.seq, state.handle, state.cpuAt, cpuEnd, started)
        } finally {
          state.handle = undefined
        }
      })
    },
    /**
     * Protocol mode: the last profile belongs to the profiler thread's session, which must stop
     * it. The exiting worker says so and waits (in slices that let the request in) until it has.
     */
    handOver(): void {
      if (!state.running) return
      tags()?.stop()
      const channel = new BroadcastChannel(constants.channel)
      channel.postMessage({ thread, exiting: true })
      const slot = new Int32Array(new SharedArrayBuffer(4))
      const until = Date.now() + 1000
      while (state.running && Date.now() < until) Atomics.wait(slot, 0, 0, 1)
      channel.close()
    },
    /** Protocol mode: the profiler thread has stopped the last profile. */
    released(): void {
      state.running = false
    },
    now(): number {
      const [seconds, nanoseconds] = process.hrtime()
      return seconds * 1e3 + nanoseconds / 1e6
    },
    canary(): number {
      yappiCoverageCanary()
      const now = state.now()
      const since = now - (state.canaryAt ?? now)
      state.canaryAt = now
      return since
    },
  }
  scope[slot] = state as unknown as Agent
  return state as unknown as Agent
}

/** The expression that installs the agent in thread `thread` (idempotent) and evaluates to it. */
export function agentSource(thread: number): string {
  const constants: AgentConstants = { thread, key: AGENT_KEY, channel: PROFILES_CHANNEL, prefix: TITLE_PREFIX, tags: TAGS_KEY, keeper: KEEPER }
  return `(${installAgent.toString()})(${JSON.stringify(constants)})\n//# sourceURL=${AGENT_URL}\n`
}

/** This thread's agent, installed from the same source if the profiler thread has not yet. */
export function localAgent(): Agent {
  const existing = (globalThis as unknown as Record<symbol, Agent | undefined>)[Symbol.for(AGENT_KEY)]
  return existing ?? (vm.runInThisContext(agentSource(threadId), { filename: AGENT_URL }) as Agent)
}

/** Reads a console profile title of ours: thread, seq, CPU µs at its start, whether terminal. */
export function parseTitle(title: string): { thread: number; seq: number; cpuUs: number; terminal: boolean } | undefined {
  if (!title.startsWith(TITLE_PREFIX)) return undefined
  const [thread, seq, cpuUs, terminal] = title.slice(TITLE_PREFIX.length).split(':')
  const numbers = [Number(thread), Number(seq), Number(cpuUs)]
  if (numbers.some((n) => !Number.isFinite(n))) return undefined
  return { thread: numbers[0], seq: numbers[1], cpuUs: numbers[2], terminal: terminal === 'end' }
}
