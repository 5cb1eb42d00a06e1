// The ESM entry re-exports the CommonJS build, so `import` and `require` in one process share
// one profiler (one engine state, one running session) instead of loading it twice.
export * from './dist/index.js'
export { default } from './dist/index.js'
