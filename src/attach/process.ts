import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'

import { YappiError } from '../errors'

/** A failure the attaching tool reports with an exit status: 2 for its usage, 1 for everything else. */
export class AttachError extends YappiError {
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message)
  }
}

const MIN_NODE = [20, 19] as const
const SIGUSR1 = 10

/** What we learnt about the target before touching it. */
export interface TargetProcess {
  pid: number
  /** `v20.19.0`, when it could be read without touching the target. */
  version?: string
  /** Loopback ports the target listens on (Linux), to tell its inspector's port from another process's. */
  listening?: () => Set<number>
  /** Inspector ports named on the target's command line or NODE_OPTIONS (`--inspect-port=…`), else 9229. */
  inspectorPort: number
}

export function parsePid(text: string | undefined): number {
  const pid = Number(text)
  if (text === undefined || !/^\d+$/.test(text) || !Number.isSafeInteger(pid) || pid <= 0) {
    throw new AttachError(`a PID is a whole number > 0, not ${JSON.stringify(text ?? '')}`, 2)
  }
  return pid
}

export function checkVersion(version: string): void {
  const [major, minor] = version.replace(/^v/, '').split('.').map(Number)
  if (major < MIN_NODE[0] || (major === MIN_NODE[0] && minor < MIN_NODE[1])) {
    throw new AttachError(`the target runs Node ${version}; yappi-node supports Node >= ${MIN_NODE.join('.')}`)
  }
}

/** Whether we may signal `pid`; throws the reason why not. */
function checkSignalable(pid: number): void {
  if (pid === process.pid) throw new AttachError('cannot attach to this very process')
  try {
    process.kill(pid, 0)
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ESRCH') throw new AttachError(`no such process: ${pid}`)
    if (code === 'EPERM') throw new AttachError(`process ${pid} is not ours to signal (EPERM): attach as its user or as root`)
    throw new AttachError(`cannot signal process ${pid}: ${(error as Error).message}`)
  }
}

function read(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** `--inspect-port=9333`, `--inspect=127.0.0.1:9333` and the like in argv or NODE_OPTIONS. */
export function inspectorPortOf(args: string[]): number {
  let port = 9229
  for (const arg of args) {
    const match = /^--(?:inspect|inspect-brk|inspect-wait|inspect-port|debug-port)=(?:.*:)?(\d+)$/.exec(arg)
    if (match) port = Number(match[1])
  }
  return port
}

/** Linux: the target's LISTEN sockets on loopback or any address, by matching its socket inodes in /proc/<pid>/net/tcp*. */
function listeningPorts(pid: number): Set<number> {
  const inodes = new Set<string>()
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = fs.readlinkSync(`/proc/${pid}/fd/${fd}`)
      if (link.startsWith('socket:[')) inodes.add(link.slice(8, -1))
    } catch {
      // The fd was closed meanwhile.
    }
  }
  const ports = new Set<number>()
  for (const table of ['tcp', 'tcp6']) {
    for (const line of (read(`/proc/${pid}/net/${table}`) ?? '').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      // fields: sl local remote st ... inode (10th)
      if (fields.length > 9 && fields[3] === '0A' && inodes.has(fields[9])) ports.add(parseInt(fields[1].split(':')[1], 16))
    }
  }
  return ports
}

/**
 * Checks the target before anything touches it: it exists, it is ours to signal, it is Node,
 * it handles SIGUSR1 (an unhandled SIGUSR1 kills a process), it is recent enough.
 */
export function inspectProcess(pid: number): TargetProcess {
  checkSignalable(pid)
  if (process.platform !== 'linux') {
    // No /proc to read: the inspector's /json/version tells the version once it is open.
    return { pid, inspectorPort: 9229 }
  }
  let exe: string
  try {
    exe = fs.readlinkSync(`/proc/${pid}/exe`)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new AttachError(`no such process: ${pid}`)
    throw new AttachError(`process ${pid} is not ours to inspect (${(error as NodeJS.ErrnoException).code}): attach as its user or as root`)
  }
  const args = (read(`/proc/${pid}/cmdline`) ?? '').split('\0').filter(Boolean)
  const environ = (read(`/proc/${pid}/environ`) ?? '').split('\0')
  const nodeOptions = environ.find((entry) => entry.startsWith('NODE_OPTIONS='))?.slice('NODE_OPTIONS='.length).split(/\s+/) ?? []
  const name = path.basename(exe.replace(/ \(deleted\)$/, ''))
  if (!/node/i.test(name)) throw new AttachError(`process ${pid} is not a Node.js process (it runs ${exe})`)
  const caught = /^SigCgt:\s*([0-9a-f]+)$/m.exec(read(`/proc/${pid}/status`) ?? '')
  if (!caught || (BigInt(`0x${caught[1]}`) & (1n << BigInt(SIGUSR1 - 1))) === 0n) {
    throw new AttachError(`process ${pid} does not handle SIGUSR1 (not Node, or started with --disable-sigusr1): it would die of it, so it was left alone`)
  }
  let version: string | undefined
  if (!exe.endsWith(' (deleted)')) {
    try {
      // The target's own binary answers without the target being touched.
      version = execFileSync(exe, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'], env: {} }).trim()
    } catch {
      version = undefined
    }
    if (version !== undefined && !/^v\d+\.\d+\.\d+/.test(version)) throw new AttachError(`process ${pid} is not a Node.js process (${exe} --version says ${JSON.stringify(version.slice(0, 80))})`)
  }
  if (version) checkVersion(version)
  const inspectorPort = inspectorPortOf([...nodeOptions, ...args.slice(1)])
  if (inspectorPort === 0) throw new AttachError(`process ${pid} has its inspector on a random port (--inspect=0 or --inspect-port=0): attach cannot tell which`)
  return { pid, version, listening: () => listeningPorts(pid), inspectorPort }
}
