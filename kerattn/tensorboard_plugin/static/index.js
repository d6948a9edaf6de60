// kerattn's attention dashboard: TensorBoard loads this module in the plugin's iframe and calls
// render(). Plain ES modules, no build step, nothing fetched from outside TensorBoard.
import {renderHeatmap, renderTokenWeights} from './static/heatmap.js';
import {renderDiagnostics} from './static/charts.js';

const here = (path) => new URL(path, import.meta.url).href;

async function getJson(path) {
  const response = await fetch(here(path));
  if (!response.ok) {
    throw new Error(`${path}: ${response.status} ${await response.text()}`);
  }
  return response.json();
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function labelled(text, control) {
  return element('label', {class: 'control'}, element('span', {text}), control);
}

function fillSelect(select, values, labelOf = (value) => value) {
  const previous = select.value;
  select.replaceChildren(...values.map((value) => element('option', {value, text: labelOf(value)})));
  if (values.includes(previous)) select.value = previous;
}

function emptyMessage(listing) {
  const lines = ['No attention summaries in this log directory.'];
  if (listing.image_only_runs.length) {
    lines.push(
      `These runs were written before kerattn logged attention as data and have only the PNG ` +
        `heatmaps (see the Images tab): ${listing.image_only_runs.join(', ')}.`);
  }
  lines.push(
    '`kerattn train` writes them at every evaluation (run "valid"), `kerattn evaluate --log-dir` ' +
      'once; from your own loop call kerattn.visualization.log_attention(...).');
  for (const problem of listing.unreadable) lines.push(problem);
  return lines;
}

export async function render() {
  document.head.append(element('link', {rel: 'stylesheet', href: here('./static/style.css')}));
  const runSelect = element('select', {id: 'run-select'});
  const probeSelect = element('select', {id: 'probe-select'});
  const stepSelect = element('select', {id: 'step-select'});
  const slider = element('input', {id: 'step-slider', type: 'range', min: '0', max: '0', value: '0'});
  const message = element('div', {id: 'message', class: 'message'});
  const title = element('h2', {id: 'probe-title'});
  const stepInfo = element('div', {id: 'step-info', class: 'step-info'});
  const view = element('div', {id: 'view'});
  const charts = element('div', {id: 'diagnostics', class: 'diagnostics'});
  const controls = element('div', {class: 'controls'},
    labelled('Run', runSelect), labelled('Probe', probeSelect), labelled('Step', stepSelect),
    labelled('Replay', slider));
  document.body.append(element('div', {class: 'dashboard'}, controls, message, title, stepInfo,
    element('div', {class: 'main'}, view, charts)));

  let listing;
  try {
    listing = await getJson('./runs');
  } catch (error) {
    message.textContent = `Could not read the attention summaries: ${error.message}`;
    return;
  }
  if (!listing.runs.length) {
    controls.hidden = true;
    message.replaceChildren(...emptyMessage(listing).map((line) => element('p', {text: line})));
    return;
  }
  if (listing.unreadable.length) message.textContent = listing.unreadable.join(' ');

  let probe = null;  // the /probe answer shown now
  let loads = 0;  // loadProbe calls so far: only the latest one's answer is shown
  const runs = new Map(listing.runs.map((entry) => [entry.run, entry]));
  // The validation run first: that is where the trainer writes its probes.
  const runNames = [...runs.keys()].sort((a, b) => (b === 'valid') - (a === 'valid'));
  fillSelect(runSelect, runNames);

  function showStep(index) {
    const step = probe.steps[index];
    slider.value = String(index);
    stepSelect.value = String(step.step);
    stepInfo.textContent = `step ${step.step} (${index + 1} of ${probe.steps.length})`;
    if (probe.kind === 'token_weights') {
      renderTokenWeights(view, step.source_tokens, step.weights, step.target_tokens);
    } else {
      renderHeatmap(view, step.source_tokens, step.target_tokens, step.weights);
    }
    renderDiagnostics(charts, probe.steps, index, (chosen) => showStep(chosen));
  }

  async function loadProbe() {
    const run = runSelect.value;
    const name = probeSelect.value;
    const load = ++loads;
    view.textContent = 'Loading…';
    const answer = await getJson(
      `./probe?run=${encodeURIComponent(run)}&name=${encodeURIComponent(name)}`);
    // A later call (another run or probe, or the same one chosen again) supersedes this one:
    // its answer must not reset the step the user has moved to since.
    if (load !== loads) return;
    probe = answer;
    title.textContent = probe.text || probe.name;
    title.title = probe.name;
    if (!probe.steps.length) {
      view.textContent = 'This probe has no complete step yet.';
      charts.replaceChildren();
      return;
    }
    fillSelect(stepSelect, probe.steps.map((step) => String(step.step)));
    slider.max = String(probe.steps.length - 1);
    showStep(probe.steps.length - 1);
  }

  function fillProbes() {
    const probes = runs.get(runSelect.value).probes;
    fillSelect(probeSelect, probes.map((entry) => entry.name), (name) => {
      const entry = probes.find((candidate) => candidate.name === name);
      return entry.text ? `${name} — ${entry.text.slice(0, 60)}` : name;
    });
  }

  runSelect.addEventListener('change', () => { fillProbes(); loadProbe(); });
  probeSelect.addEventListener('change', loadProbe);
  slider.addEventListener('input', () => showStep(Number(slider.value)));
  stepSelect.addEventListener('change', () =>
    showStep(probe.steps.findIndex((step) => String(step.step) === stepSelect.value)));
  fillProbes();
  await loadProbe();
}
