const swc = { jsc: { parser: { syntax: 'typescript', decorators: true }, transform: { legacyDecorator: true, decoratorMetadata: true }, target: 'es2022' }, module: { type: 'commonjs' } };
module.exports = { testEnvironment: 'node', transform: { '^.+\\.(t|j|mj)s$': ['@swc/jest', swc] }, transformIgnorePatterns: ['/node_modules/(?!(@nestjs)/)'], testRegex: '\\.spec\\.ts$' };
