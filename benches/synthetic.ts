import type { BindingFlatProfile } from '../binding'
import { seededRandom } from './measure'

/**
 * A flat profile shaped like a real one: a random recursive tree (depth about 2.7·ln n, as in
 * call trees), frames reused across nodes (so recursion occurs), and consecutive samples that
 * often stay on the same node, with ~1 ms gaps.
 */
export function syntheticProfile(nodes: number, samples: number, functions: number): BindingFlatProfile {
  const random = seededRandom(42)
  const frames: [string, string, string, number, number][] = [['(root)', '', '0', -1, -1]]
  for (let f = 0; f < functions; f++) frames.push([`fn${f}`, `file:///app/module${f % 64}.js`, String(1 + (f % 64)), f, 4])
  const nodeParent = new Uint32Array(nodes)
  const nodeFrame = new Uint32Array(nodes)
  nodeParent[0] = 0xffffffff
  for (let i = 1; i < nodes; i++) {
    nodeParent[i] = Math.floor(random() * i)
    nodeFrame[i] = 1 + Math.floor(random() * functions)
  }
  const sampleNodes = new Uint32Array(samples)
  const timeDeltas = new Float64Array(samples)
  let current = 1
  for (let s = 0; s < samples; s++) {
    if (random() > 0.6) current = 1 + Math.floor(random() * (nodes - 1))
    sampleNodes[s] = current
    timeDeltas[s] = 900 + Math.floor(random() * 200)
  }
  const endTime = timeDeltas.reduce((sum, d) => sum + d, 0)
  return { frames: JSON.stringify(frames), nodeParent, nodeFrame, samples: sampleNodes, timeDeltas, startTime: 0, endTime }
}

/**
 * `chains` call chains of `depth` distinct functions each, every chain compiled by its own
 * `new Function`; the innermost function of a chain spins for `spinMs` so samples see the
 * whole chain on the stack (V8 keeps at most 255 frames per sample, so depth stays below).
 */
export function functionChains(chains: number, depth: number, spinMs: number, tag: string): (() => void)[] {
  const spin = () => {
    const end = performance.now() + spinMs
    while (performance.now() < end);
  }
  const heads: (() => void)[] = []
  for (let c = 0; c < chains; c++) {
    const lines: string[] = []
    for (let d = 0; d < depth; d++) {
      const callee = d + 1 < depth ? `${tag}_${c}_${d + 1}()` : 'spin()'
      lines.push(`function ${tag}_${c}_${d}() { return ${callee} }`)
    }
    lines.push(`return ${tag}_${c}_0`)
    heads.push(new Function('spin', lines.join('\n'))(spin) as () => void)
  }
  return heads
}
