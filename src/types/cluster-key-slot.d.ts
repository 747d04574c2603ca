/** Types of `cluster-key-slot` (the slot function ioredis itself uses; the package ships none). */
declare module 'cluster-key-slot' {
  /** The cluster slot (0..16383) of a key, hash tags honoured, as `CLUSTER KEYSLOT` computes it. */
  function calculateSlot(key: string | Buffer): number;
  namespace calculateSlot {
    /** The common slot of several keys, or -1 when they do not share one. */
    function generateMulti(keys: (string | Buffer)[]): number;
  }
  export = calculateSlot;
}
