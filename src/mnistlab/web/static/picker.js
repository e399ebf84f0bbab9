// The run picker: a select per network listing the finished runs and .pth files it can answer with
// (GET /api/runs), choosing one at once (POST /api/use), and where each network's weights come from.
// Hidden when the server has no picker.

import { getRuns, useRun } from "./api.js";
import { number, percent, statusLine, t } from "./i18n.js";

const section = document.getElementById("picker");
const container = document.getElementById("picker-networks");
const say = statusLine(document.getElementById("status"));
let state = null;  // {info, runs}: the last /api/info and /api/runs, for re-labelling
let reload = async () => {};

function optionText(choice) {
  if (choice.test_accuracy == null) return t("picker_file", { file: choice.id.replace(/^file:/, "") });
  return t("picker_run", { run: choice.id, percent: percent(choice.test_accuracy, 2), steps: number(choice.steps ?? 0) });
}

function build() {
  const { info, runs } = state;
  container.replaceChildren();
  // the practice's networks, and any other one the server serves
  for (const model of info.models.filter((m) => m.lesson !== false || info.networks.some((n) => n.name === m.name))) {
    const label = document.createElement("label");
    label.className = "pick";
    label.dataset.name = model.name;
    const name = document.createElement("span");
    name.className = "pick-name";
    name.textContent = model.display_name;
    const select = document.createElement("select");
    select.name = model.name;
    const serving = runs.serving[model.name] ?? "";
    if (!serving) select.appendChild(new Option(t("picker_none"), ""));
    for (const choice of runs.runs.filter((c) => c.model === model.name)) {
      const option = new Option(optionText(choice), choice.id);
      if (runs.offered.includes(choice.id)) option.dataset.offered = "true";
      select.appendChild(option);
    }
    select.value = serving;
    select.disabled = select.options.length < 2 && Boolean(serving);
    select.addEventListener("change", () => choose(model.name, select, serving));
    const source = document.createElement("span");
    source.className = "pick-source";
    const net = info.networks.find((n) => n.name === model.name);
    source.textContent = net ? t("picker_serving", { source: net.file ?? net.source }) : "";
    source.title = net?.source ?? "";
    label.append(name, select, source);
    container.appendChild(label);
  }
}

async function choose(network, select, before) {
  select.disabled = true;
  try {
    await use(network, select.value);
  } catch (err) {
    select.value = before;
    say.error(err);
  } finally {
    select.disabled = false;
  }
}

// Answer with `run` (an id of /api/runs) for `network`; the page then reloads what it shows.
export async function use(network, run) {
  await useRun(network, run);
  await refreshPicker(await reload());
}

// Lists again what there is to choose from (after a training, say); null when the server has no picker.
export async function refreshPicker(info) {
  let runs;
  try {
    runs = await getRuns();
  } catch (err) {
    if (err.status === 404) { section.hidden = true; return null; }
    throw err;
  }
  state = { info: info ?? state?.info, runs };
  section.hidden = false;
  build();
  return runs;
}

export function relabelPicker() {
  if (state && !section.hidden) build();
}

// `info`: /api/info; `loadNetworks()` reloads the page's networks and returns the new /api/info.
export async function setupPicker(info, loadNetworks) {
  reload = loadNetworks;
  return refreshPicker(info);
}
