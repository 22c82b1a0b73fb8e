// Statechannel client: framework-free core. See docs/client.md.
export { connect, StateSocket } from './socket.js';
export { StateChannel, OpError } from './channel.js';
export { applyPatch, PatchError, parsePointer, formatPointer, getIn, deepEqual } from './patch.js';
export { memoryStorage, indexedDbStorage, defaultStorage } from './storage.js';
export * as constants from './constants.js';
export { STATUS, EVENTS } from './constants.js';
