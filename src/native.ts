// The generated napi-rs loader sits at the package root, beside package.json; compiled
// modules live in dist/src, so the path is fixed relative to this file's compiled place.
import type * as Binding from '../binding'

// eslint-disable-next-line @typescript-eslint/no-require-imports
export const native: typeof Binding = require('../../binding.js')
