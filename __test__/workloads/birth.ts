// Imported first by a worker's script: the thread's CPU clock when its own code began.
import { ownCpuSeconds } from './thread-clock'

export const CPU_AT_FIRST_LINE = ownCpuSeconds()
