// One profiled run at the interval given in argv, in a process of its own (a V8 profiler kept
// alive from an earlier session may keep that session's interval): prints main's thread stats and
// overhead account as JSON.
import * as yappi from '../../index'
import { spinA } from './burn'

yappi.start({ threads: false, intervalUs: Number(process.argv[2]) })
spinA(400)
const thread = yappi.getThreadStats().toArray().find((stat) => stat.id === 0)
const account = yappi.getOverhead().threads.find((entry) => entry.threadId === 0)
yappi.stop()
process.stdout.write(JSON.stringify({ thread, account }))
