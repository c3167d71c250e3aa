export * from './storage/index.js';
export { AxisError, ErrorCode, isAxisError } from './errors/index.js';
export { connect, Client, Election, Mutex, Session, type Held, type ConnectOptions, type ClientReadOptions, type ClientRangeOptions, type MemberStatusReport } from './client/index.js';
export { serve, resolveConfig, readConfigFile, memberLogger, DEFAULT_LIMITS, type ClientLimits, type MemberConfig, type Server, type ServeOptions } from './server/index.js';
export { readKeyFile, generateKeyPair, CurveKeys, type KeyFileContent } from './security/index.js';
