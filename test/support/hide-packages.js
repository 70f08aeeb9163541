// Preloaded with --require: makes the packages named in QS_HIDE_PACKAGES
// unresolvable, as if they were not installed, for the optional-peer tests.
const Module = require('node:module');
const hidden = new Set((process.env.QS_HIDE_PACKAGES || '').split(',').filter(Boolean));
const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (hidden.has(request)) {
    const err = new Error(`Cannot find module '${request}'`);
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  }
  return resolve.call(this, request, ...rest);
};
