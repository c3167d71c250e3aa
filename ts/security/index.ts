/** Security: CURVE keys for peers and clients, the ZAP handler that admits them, and where a member may listen without them. */
export { CurveKeys, curveKeys, generateKeyPair, memberAsClient, isZ85Key, keyFileContent, readKeyFile, readKeyFileContent, writeKeyFile, type KeyFileContent, type KeyRole } from './keys.js';
export { openCurveGate, secureClient, type CurveGate } from './zap.js';
export { isLoopback, plaintextListenWarnings, type ListenSettings } from './listen.js';
