export * from './codes.js';
export * from './names.js';
export * from './messages.js';
export * from './state.js';
export { formatNumber } from './fields.js';
