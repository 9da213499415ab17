// The heatmap of one figure over layers (rows) × modules (columns): each adapted module a cell
// coloured on the figure's scale (0 up to the largest value; a figure with a natural centre, such
// as a drift around 0 or a rescale around 1, in two colours either side of it), with the legend
// beside it. Each cell is a button: hovering or focusing it shows its value, clicking or Enter
// picks it for the histogram; the arrow keys, Home and End move between cells (one tab stop).

import { useRef, useState, type KeyboardEvent } from 'react';
import type { AdapterAnatomy, ModuleAnatomy } from '../../run/anatomy';
import { FIGURES, formatFigure, heatmapOf, shadeOf, useAnatomy, type AnatomyFigure, type Heatmap as HeatmapData } from '../../state/anatomy';
import styles from './Anatomy.module.css';

/** A cell's background: the surface mixed with the side's colour, more the farther from the centre. */
function shade(value: number, range: HeatmapData['range']): string | undefined {
  const s = shadeOf(value, range);
  if (s === null) return undefined;
  const colour = s.side > 0 ? 'var(--accent)' : 'var(--busy)';
  return `color-mix(in srgb, ${colour} ${Math.round(6 + 94 * s.strength)}%, var(--surface))`;
}

export function Heatmap({ anatomy, figure, selected }: { anatomy: AdapterAnatomy; figure: AnatomyFigure; selected: ModuleAnatomy | null }) {
  const select = useAnatomy((s) => s.select);
  const [hovered, setHovered] = useState<ModuleAnatomy | null>(null);
  const grid = useRef<HTMLTableElement>(null);
  const map = heatmapOf(anatomy, figure);
  const info = FIGURES[figure];
  const layers = Array.from({ length: map.layers }, (_, l) => l).filter((l) => map.modules.some((m) => map.cell(l, m) !== undefined));
  const shown = hovered ?? selected;
  const shownValue = shown !== null ? map.cell(shown.layer, shown.module)?.value : undefined;

  const focusCell = (layer: number, module: string) => {
    grid.current?.querySelector<HTMLButtonElement>(`button[data-layer="${layer}"][data-module="${CSS.escape(module)}"]`)?.focus();
  };
  const onKey = (e: KeyboardEvent, layer: number, module: string) => {
    const row = layers.indexOf(layer);
    const col = map.modules.indexOf(module);
    const cells = (r: number) => map.modules.filter((m) => map.cell(layers[r]!, m) !== undefined);
    let target: { layer: number; module: string } | null = null;
    const step = (dr: number, dc: number) => {
      for (let r = row + dr, c = col + dc; r >= 0 && r < layers.length && c >= 0 && c < map.modules.length; r += dr, c += dc) {
        if (map.cell(layers[r]!, map.modules[c]!) !== undefined) return { layer: layers[r]!, module: map.modules[c]! };
      }
      return null;
    };
    if (e.key === 'ArrowRight') target = step(0, 1);
    else if (e.key === 'ArrowLeft') target = step(0, -1);
    else if (e.key === 'ArrowDown') target = step(1, 0);
    else if (e.key === 'ArrowUp') target = step(-1, 0);
    else if (e.key === 'Home') target = { layer, module: cells(row)[0]! };
    else if (e.key === 'End') target = { layer, module: cells(row).at(-1)! };
    else return;
    e.preventDefault();
    if (target !== null) {
      select(target);
      focusCell(target.layer, target.module);
    }
  };

  return (
    <div className={styles.heatmap}>
      <p className={styles.readout} aria-live="polite" data-testid="anatomy-readout">
        {shown !== null ? (
          <>
            Layer {shown.layer} · {shown.module}: <strong>{shownValue !== undefined ? formatFigure(shownValue) : '—'}</strong>
            <span className={styles.readoutWhat}> {info.label.toLowerCase()}</span>
          </>
        ) : (
          'Hover over a cell or focus it for its value.'
        )}
      </p>
      <div className="table-scroll">
        <table ref={grid} role="grid" className={styles.grid} aria-label={`${info.label} by layer and module`} data-testid="anatomy-heatmap" data-figure={figure}>
          <thead>
            <tr>
              <th scope="col" className={styles.corner}>
                Layer
              </th>
              {map.modules.map((m) => (
                <th key={m} scope="col" className={styles.colHead}>
                  {m}
                </th>
              ))}
            </tr>
          </thead>
          <tbody onMouseLeave={() => setHovered(null)}>
            {layers.map((layer) => (
              <tr key={layer}>
                <th scope="row" className={styles.rowHead}>
                  {layer}
                </th>
                {map.modules.map((module) => {
                  const cell = map.cell(layer, module);
                  if (cell === undefined) {
                    return (
                      <td key={module} className={styles.absent} role="gridcell">
                        <span className="visually-hidden">not adapted</span>
                      </td>
                    );
                  }
                  const isSelected = selected !== null && selected.layer === layer && selected.module === module;
                  return (
                    <td key={module} role="gridcell" aria-selected={isSelected} className={styles.cellTd}>
                      <button
                        type="button"
                        className={`${styles.cell} ${isSelected ? styles.selected : ''} ${Number.isFinite(cell.value) ? '' : styles.undefinedValue}`}
                        style={{ background: shade(cell.value, map.range) }}
                        tabIndex={isSelected || (selected === null && layer === layers[0] && module === map.modules[0]) ? 0 : -1}
                        aria-label={`Layer ${layer} ${module}: ${info.label.toLowerCase()} ${formatFigure(cell.value)}`}
                        title={`Layer ${layer} · ${module}: ${formatFigure(cell.value)}`}
                        onClick={() => select({ layer, module })}
                        onFocus={() => setHovered(cell.entry)}
                        onBlur={() => setHovered(null)}
                        onMouseEnter={() => setHovered(cell.entry)}
                        onKeyDown={(e) => onKey(e, layer, module)}
                        data-testid={`anatomy-cell-${layer}-${module}`}
                        data-layer={layer}
                        data-module={module}
                        data-value={cell.value}
                      />
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <Legend range={map.range} />
    </div>
  );
}

/** The colour scale: its colours from end to end, with the ends (and the centre) labelled. */
function Legend({ range }: { range: HeatmapData['range'] }) {
  const stops =
    range.centre === null
      ? [shade(range.lo, range) ?? 'var(--surface)', shade(range.hi, range) ?? 'var(--surface)']
      : [shade(range.lo, range), shade(range.centre, range), shade(range.hi, range)].map((c) => c ?? 'var(--surface)');
  return (
    <div className={styles.legend} data-testid="anatomy-legend">
      <div className={styles.legendBar} style={{ background: `linear-gradient(to right, ${stops.join(', ')})` }} aria-hidden="true" />
      <div className={styles.legendTicks}>
        <span data-testid="anatomy-legend-lo">{formatFigure(range.lo)}</span>
        {range.centre !== null && <span>{formatFigure(range.centre)}</span>}
        <span data-testid="anatomy-legend-hi">{formatFigure(range.hi)}</span>
      </div>
    </div>
  );
}
