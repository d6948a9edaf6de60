// The attention matrix as a grid of cells (one DOM cell per weight) with the tokens on both
// axes, and a classifier's text with each token shaded by its weight.

// Viridis, sampled at 9 points; weights are interpolated between them.
const VIRIDIS = ['#440154', '#472d7b', '#3b528b', '#2c728e', '#21918c', '#28ae80', '#5ec962',
  '#addc30', '#fde725'];

function rgb(hex) {
  return [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
}

export function colour(weight) {
  const position = Math.min(1, Math.max(0, weight)) * (VIRIDIS.length - 1);
  const low = Math.floor(position);
  const high = Math.min(VIRIDIS.length - 1, low + 1);
  const [a, b] = [rgb(VIRIDIS[low]), rgb(VIRIDIS[high])];
  const mix = a.map((value, i) => Math.round(value + (b[i] - value) * (position - low)));
  return `rgb(${mix.join(',')})`;
}

function div(className, text) {
  const node = document.createElement('div');
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// Cells stay at least 14 px; long sentences scroll inside the frame with both token axes sticky.
function cellSize(sources, targets) {
  return Math.max(14, Math.min(34, Math.floor(640 / Math.max(sources, targets, 1))));
}

export function renderHeatmap(container, sourceTokens, targetTokens, weights) {
  const size = cellSize(sourceTokens.length, targetTokens.length);
  const grid = div('heatmap');
  grid.id = 'heatmap';
  grid.style.gridTemplateColumns = `max-content repeat(${sourceTokens.length}, ${size}px)`;
  grid.style.gridAutoRows = `${size}px`;
  const hover = div('hover', 'Hover a cell: output token, source token, weight.');
  hover.id = 'hover';

  const corner = div('corner', 'output ↓ · source →');
  grid.append(corner);
  sourceTokens.forEach((token, column) => {
    const label = div('source-token', token);
    label.dataset.column = column;
    label.title = token;
    grid.append(label);
  });
  weights.forEach((row, rowIndex) => {
    const label = div('target-token', targetTokens[rowIndex]);
    label.title = targetTokens[rowIndex];
    grid.append(label);
    const best = row.reduce((bestIndex, value, i) => (value > row[bestIndex] ? i : bestIndex), 0);
    row.forEach((weight, column) => {
      const cell = div(column === best ? 'cell argmax' : 'cell');
      cell.style.background = colour(weight);
      cell.dataset.row = rowIndex;
      cell.dataset.column = column;
      cell.dataset.weight = weight.toFixed(4);
      cell.title = `${targetTokens[rowIndex]} ← ${sourceTokens[column]}: ${weight.toFixed(3)}`;
      grid.append(cell);
    });
  });
  grid.addEventListener('mouseover', (event) => {
    const cell = event.target.closest('.cell');
    grid.querySelectorAll('.highlight').forEach((node) => node.classList.remove('highlight'));
    if (!cell) return;
    const {row, column} = cell.dataset;
    hover.replaceChildren();
    const parts = [['output', targetTokens[row]], ['source', sourceTokens[column]],
      ['weight', Number(cell.dataset.weight).toFixed(3)]];
    for (const [name, value] of parts) {
      const part = document.createElement('span');
      part.innerHTML = '<b></b> ';
      part.firstChild.textContent = `${name}:`;
      part.append(value);
      hover.append(part);
    }
    grid.querySelectorAll(`.source-token[data-column="${column}"]`)
      .forEach((node) => node.classList.add('highlight'));
    grid.children[1 + sourceTokens.length + row * (sourceTokens.length + 1)]
      .classList.add('highlight');
  });
  const legend = div('legend');
  legend.append(div('legend-bar'), div('legend-text',
    '0 … 1 attention weight · outlined: where each output token looks most'));
  const frame = div('heatmap-frame');
  frame.append(grid);
  container.replaceChildren(hover, frame, legend);
}

export function renderTokenWeights(container, tokens, weights, labels) {
  const peak = Math.max(...weights, 0) || 1;
  const text = div('token-text');
  text.id = 'token-text';
  tokens.forEach((token, index) => {
    const joined = token.startsWith('##') && index > 0;
    if (index > 0 && !joined) text.append(' ');
    const span = document.createElement('span');
    span.className = 'token cell';
    span.textContent = joined ? token.slice(2) : token;
    span.dataset.weight = weights[index].toFixed(4);
    span.title = `${token}: ${weights[index].toFixed(3)}`;
    span.style.background = `rgba(255, 140, 0, ${(weights[index] / peak).toFixed(3)})`;
    text.append(span);
  });
  const label = div('predicted', labels.length ? `predicted: ${labels.join(', ')}` : '');
  const legend = div('legend-text',
    'Each token shaded by its attention weight (strongest token fully shaded); hover for the weight.');
  container.replaceChildren(label, text, legend);
}
