/**
 * Faults a test injects into the profiler thread, to check that each is contained: the
 * application runs on unharmed, the fault is recorded, and profiling resumes. Read once from
 * `YAPPI_NODE_INJECT_FAULTS` (JSON), e.g. `{"failRotations":3,"corruptProfiles":["missing-node","two-parents"]}`;
 * without it nothing is injected.
 */
export interface Injection {
  /** Whether the next rotation fails, as if the inspector refused it. */
  failsRotation(): boolean
  /** A profile's text, corrupted if a corruption is due. */
  corrupt(text: string): string
}

type Corruption = 'missing-node' | 'two-parents'

/** A sample of a node the profile does not have; the second child of the root named twice. */
const CORRUPTIONS: Record<Corruption, (text: string) => string | undefined> = {
  'missing-node': (text) => (text.includes('"samples":[') ? text.replace('"samples":[', '"samples":[999999,').replace('"timeDeltas":[', '"timeDeltas":[0,') : undefined),
  'two-parents': (text) => {
    const children = /"children":\[(\d+)/.exec(text)
    return children ? text.replace(children[0], `${children[0]},${children[1]}`) : undefined
  },
}

export function injectionFrom(spec: string | undefined): Injection {
  const parsed = spec ? (JSON.parse(spec) as { failRotations?: number; corruptProfiles?: Corruption[] }) : {}
  let failures = parsed.failRotations ?? 0
  const corruptions = [...(parsed.corruptProfiles ?? [])]
  return {
    failsRotation: () => failures-- > 0,
    corrupt: (text) => {
      const next = corruptions[0]
      const corrupted = next && CORRUPTIONS[next](text)
      if (corrupted === undefined) return text
      corruptions.shift()
      return corrupted
    },
  }
}
