// The profiler thread tells every thread that stalls were recorded, so that `onStall`
// callbacks run without any thread polling the engine.

/** Carries a bare "new stalls" signal; listeners read what is new from the engine. */
export const STALLS_CHANNEL = 'yappi-node:stalls'

let channel: BroadcastChannel | undefined

/** Called on the profiler thread after a fold recorded stalls. Never throws. */
export function announceStalls(): void {
  try {
    if (!channel) {
      channel = new BroadcastChannel(STALLS_CHANNEL)
      ;(channel as unknown as { unref?: () => void }).unref?.()
    }
    channel.postMessage(0)
  } catch {
    // Without the signal, callbacks run at the next announcement; the stalls are recorded.
  }
}
