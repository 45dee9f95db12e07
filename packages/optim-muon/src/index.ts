export { newtonSchulz5, NS5_COEFFICIENTS, type NewtonSchulzOptions } from './newton-schulz.js';
export { roundToBf16 } from './bf16.js';
export { Muon, auxLossFreeBiasUpdate, type MuonOptions, type MuonStepInfo, type ParamGroupRule, type Gradients } from './muon.js';
export { routeParameter, defaultRoute, compilePattern, type Route, type NamePattern } from './routing.js';
