/** The stage registry: every stage `qt up` can run, in pipeline order. */
import type { StageFactory } from '../engine.js';
import { createAiEngineStage } from './ai-engine.js';
import { createAutonomousTraderStage } from './autonomous-trader.js';
import { createMarketStage } from './market.js';
import { intentExecutorFromDeps } from './intent-executor.js';
import type { Exchange } from '../exchange/types.js';
import { PolicyCache, policyFromConfig } from '../state/policy.js';
import { createIntentBridge } from './intent-bridge.js';
import { createApplyLayer } from './apply-layer.js';
import { createHarvestBrain } from './harvest-brain.js';
import { createRiskGuard } from './risk-guard.js';
import { createReconciler } from './reconciler.js';
import { createRlAgent } from './rl-agent.js';
import { createVerifyEnsemble } from './verify-ensemble.js';

export const STAGE_FACTORIES: Record<string, StageFactory> = {
  market: (deps) => createMarketStage({ config: deps.config, source: deps.priceSource }),
  ai_engine: (deps) => createAiEngineStage({
    config: deps.config,
    // A replay: candles of the replayed candle length in market time, no restored history
    // (a run starts from its data alone), seeded signal ids.
    ...(deps.replay ? { candleMs: deps.replay.candleMs, restore: false, newSignalId: () => deps.replay!.newId('sig') } : {}),
  }),
  autonomous_trader: (deps) => createAutonomousTraderStage({ config: deps.config, ...(deps.replay ? { scanInBackground: false } : {}) }),
  intent_bridge: (deps) => createIntentBridge({
    names: deps.config.names,
    rules: (s) => (deps.exchange as Exchange | undefined)?.rules(s),
    policy: new PolicyCache(deps.config.names, policyFromConfig(deps.config)),
    ...(deps.replay ? { newPlanId: () => deps.replay!.newId('pl') } : {}),
  }),
  apply_layer: (deps) => createApplyLayer({
    names: deps.config.names,
    policy: new PolicyCache(deps.config.names, policyFromConfig(deps.config)),
    ...(deps.replay ? { newPermitId: () => deps.replay!.newId('pm'), scanInBackground: false } : {}),
  }),
  intent_executor: intentExecutorFromDeps,
  harvest_brain: createHarvestBrain,
  risk_guard: createRiskGuard,
  reconciler: createReconciler,
  rl_agent: createRlAgent,
  verify_ensemble: createVerifyEnsemble,
};
