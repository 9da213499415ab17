// The adapter the engine worker acquired: its names, whether it is a CPU fallback, its features
// and the limits that bound what can be trained on it.

import { TRAINING_LIMITS, useSystem, type TrainingLimit } from '../../state/system';
import { adapterName, formatBytes, formatCount } from '../format';
import styles from './Gpu.module.css';

const LIMIT_INFO: Record<TrainingLimit, { bytes: boolean; bounds: string }> = {
  maxStorageBufferBindingSize: {
    bytes: true,
    bounds: 'The largest tensor one kernel can read or write: an embedding table, a batch of activations.',
  },
  maxBufferSize: { bytes: true, bounds: 'The largest single GPU buffer.' },
  maxComputeWorkgroupStorageSize: { bytes: true, bounds: 'Shared memory per workgroup, for matmul and attention tiles.' },
  maxComputeInvocationsPerWorkgroup: { bytes: false, bounds: 'Threads per workgroup.' },
  maxComputeWorkgroupsPerDimension: { bytes: false, bounds: 'Workgroups along one axis of a dispatch.' },
};

export function AdapterReport() {
  const adapter = useSystem((s) => s.adapter);
  const features = useSystem((s) => s.features);
  const limits = useSystem((s) => s.limits);
  if (!adapter) return null;
  const name = adapterName(adapter);
  return (
    <div className={styles.part}>
      <dl className={`facts ${styles.facts}`}>
        <dt>WebGPU</dt>
        <dd>available</dd>
        <dt>Adapter</dt>
        <dd>
          <strong data-testid="adapter-name">{name}</strong>
          {!name && <span className="muted">not reported by the browser</span>}
        </dd>
        <dt>Vendor</dt>
        <dd>{adapter.vendor || '—'}</dd>
        <dt>Architecture</dt>
        <dd>{adapter.architecture || '—'}</dd>
        <dt>Device</dt>
        <dd>{adapter.device || '—'}</dd>
        <dt>Description</dt>
        <dd>{adapter.description || '—'}</dd>
        <dt>Kind</dt>
        <dd data-testid="adapter-kind">{adapter.isCpu ? 'CPU fallback (software)' : 'GPU'}</dd>
      </dl>
      {adapter.isCpu && (
        <p className="note" role="note">
          This adapter emulates a GPU on the CPU. The kernels compute the same results, only much more slowly: enough
          for the self-test and tiny models, not for real training. A browser with hardware acceleration on gets your
          actual GPU.
        </p>
      )}

      <h3 className={styles.subhead}>Features</h3>
      {features.length > 0 ? (
        <ul className="chips" data-testid="features" aria-label="Features enabled on the device">
          {features.map((f) => (
            <li key={f}>
              <code>{f}</code>
            </li>
          ))}
        </ul>
      ) : (
        <p className="muted" data-testid="features">
          None beyond core WebGPU.
        </p>
      )}

      {limits && (
        <>
          <h3 className={styles.subhead}>Limits that matter for training</h3>
          <div className="table-scroll">
            <table className="limits">
              <thead>
                <tr>
                  <th scope="col">Limit</th>
                  <th scope="col" className="num">
                    Value
                  </th>
                  <th scope="col">What it bounds</th>
                </tr>
              </thead>
              <tbody>
                {TRAINING_LIMITS.map((limit) => {
                  const value = limits[limit];
                  const info = LIMIT_INFO[limit];
                  return (
                    <tr key={limit} data-testid={`limit-${limit}`}>
                      <th scope="row">
                        <code>{limit}</code>
                      </th>
                      <td className="num" title={`${formatCount(value)}${info.bytes ? ' bytes' : ''}`}>
                        {info.bytes ? formatBytes(value) : formatCount(value)}
                      </td>
                      <td>{info.bounds}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}
