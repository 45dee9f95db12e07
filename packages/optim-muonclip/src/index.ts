export { MuonClip, formatQkClipLog, type MuonClipOptions, type QkClipStepLog } from './muonclip.js';
export {
  applyQkClip,
  findQkClipTargets,
  readMaxLogits,
  readMaxLogitsSync,
  type NamedQkClipTarget,
  type QkClipHeadLog,
  type QkClipLayerLog,
} from './qk-clip.js';
