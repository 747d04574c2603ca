/** The private 3-primary Redis Cluster for tests lives in src (the shards benchmark uses it too). */
export * from '../../src/redis/cluster-server.js';
