import { createRuntime, type Runtime } from '@karakoram/core';

export { loadModelDir as loadModel, checkpointTokenizer as tokenizerFor } from '@karakoram/model/node';

/** Creates the runtime for a command's --backend flag (registered backends, or installed packages). */
export async function runtimeFor(backend: string | undefined): Promise<Runtime> {
  return createRuntime({ backend: backend ?? 'cpu' });
}
