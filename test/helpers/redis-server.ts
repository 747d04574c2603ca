/** The private redis-server for tests lives in src (the benchmarks use it too). */
export * from '../../src/redis/server.js';
