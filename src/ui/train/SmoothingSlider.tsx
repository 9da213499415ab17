// The smoothing slider of the loss charts (the Train section's and History's comparison): 0 draws
// the raw loss; its value is shown beside it.

import { useId } from 'react';
import { SMOOTHING_MAX } from './smoothing';
import styles from './TrainCharts.module.css';

export function SmoothingSlider({ value, onChange, testId }: { value: number; onChange: (value: number) => void; testId: string }) {
  const id = useId();
  return (
    <>
      <label htmlFor={id}>Smoothing</label>
      <input
        id={id}
        type="range"
        min={0}
        max={SMOOTHING_MAX}
        step={0.01}
        value={value}
        onChange={(e) => onChange(e.currentTarget.valueAsNumber)}
        aria-valuetext={value === 0 ? 'off (raw loss)' : value.toFixed(2)}
        data-testid={testId}
      />
      <output htmlFor={id} className={styles.value}>
        {value.toFixed(2)}
      </output>
    </>
  );
}
