import * as yappi from './dist/index.js'

export * from './dist/index.js'
export default yappi
