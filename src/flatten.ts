import type { Profiler } from 'node:inspector'

import type { BindingFlatProfile } from '../binding'
import { YappiError } from './errors'

const NO_PARENT = 0xffffffff

type FrameTuple = [name: string, url: string, scriptId: string, line: number, column: number]

/**
 * Turns the inspector's profile object into the engine's flat form: one pass over nodes and
 * one over samples, typed arrays for the tree, and each distinct frame sent once.
 */
export function flatten(profile: Profiler.Profile): BindingFlatProfile {
  const { nodes } = profile
  const indexOfId = new Map<number, number>()
  for (let i = 0; i < nodes.length; i++) indexOfId.set(nodes[i].id, i)
  const index = (id: number, what: string): number => {
    const found = indexOfId.get(id)
    if (found === undefined) throw new YappiError(`malformed profile: ${what} names node ${id}, which is not in it`)
    return found
  }

  const nodeParent = new Uint32Array(nodes.length).fill(NO_PARENT)
  const nodeFrame = new Uint32Array(nodes.length)
  const frames: FrameTuple[] = []
  const frameIndex = new Map<string, number>()
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]
    const { functionName, url, scriptId, lineNumber, columnNumber } = node.callFrame
    const key = `${scriptId}:${lineNumber}:${columnNumber}:${url}:${functionName}`
    let frame = frameIndex.get(key)
    if (frame === undefined) {
      frame = frames.length
      frameIndex.set(key, frame)
      frames.push([functionName, url, String(scriptId), lineNumber, columnNumber])
    }
    nodeFrame[i] = frame
    for (const child of node.children ?? []) nodeParent[index(child, `node ${node.id}`)] = i
  }

  const sampleIds = profile.samples ?? []
  const samples = new Uint32Array(sampleIds.length)
  for (let k = 0; k < sampleIds.length; k++) samples[k] = index(sampleIds[k], `sample ${k}`)
  return {
    frames: JSON.stringify(frames),
    nodeParent,
    nodeFrame,
    samples,
    timeDeltas: Float64Array.from(profile.timeDeltas ?? []),
    startTime: profile.startTime,
    endTime: profile.endTime,
  }
}
