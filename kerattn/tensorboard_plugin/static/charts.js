// The trainer's diagnostics of the selected probe as small line charts over steps (inline SVG);
// the step shown is marked, and clicking a chart moves to the nearest step.

const DESCRIPTIONS = {
  entropy: 'mean row entropy (nats): low = focused',
  late_source_share: 'share on the last fifth of the source',
  monotonicity: 'steps whose argmax does not move back',
  diagonal_deviation: 'distance of the argmax from the diagonal',
};
const SVG = 'http://www.w3.org/2000/svg';

function svg(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function chart(name, steps, current, onChoose) {
  const [width, height, pad] = [220, 70, 6];
  const values = steps.map((step) => step.diagnostics[name]);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const x = (i) => pad + (steps.length > 1 ? (i / (steps.length - 1)) * (width - 2 * pad) : (width - 2 * pad) / 2);
  const y = (value) => height - pad - ((value - low) / span) * (height - 2 * pad);
  const figure = document.createElement('figure');
  figure.className = 'chart';
  figure.dataset.diagnostic = name;
  const caption = document.createElement('figcaption');
  caption.textContent = `${name} = ${values[current].toFixed(3)}`;
  caption.title = DESCRIPTIONS[name] || name;
  const plot = svg('svg', {width, height, viewBox: `0 0 ${width} ${height}`});
  plot.append(svg('polyline', {
    points: values.map((value, i) => `${x(i)},${y(value)}`).join(' '), class: 'line'}));
  values.forEach((value, i) => {
    const point = svg('circle', {cx: x(i), cy: y(value), r: i === current ? 4 : 2,
      class: i === current ? 'point current' : 'point'});
    const tip = svg('title', {});
    tip.textContent = `step ${steps[i].step}: ${value.toFixed(3)}`;
    point.append(tip);
    plot.append(point);
  });
  plot.addEventListener('click', (event) => {
    const box = plot.getBoundingClientRect();
    const fraction = (event.clientX - box.left - pad) / (width - 2 * pad);
    onChoose(Math.max(0, Math.min(steps.length - 1, Math.round(fraction * (steps.length - 1)))));
  });
  const range = document.createElement('div');
  range.className = 'range';
  range.textContent = `${low.toFixed(2)} – ${high.toFixed(2)} over ${steps.length} steps`;
  figure.append(caption, plot, range);
  return figure;
}

export function renderDiagnostics(container, steps, current, onChoose) {
  const names = Object.keys(steps[current].diagnostics);
  const heading = document.createElement('h3');
  heading.textContent = 'Diagnostics over steps';
  container.replaceChildren(heading, ...names.map((name) => chart(name, steps, current, onChoose)));
}
