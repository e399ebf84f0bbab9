// mnistlab studio: wires the drawing pad to the answers and the inside view (one POST /api/inside per
// change of the drawing), the training panel and the language switch.

import { getArchitecture, getInfo } from "./api.js";
import { buildPanels, relabel, show, showEmpty } from "./answers.js";
import { createPad } from "./draw.js";
import { errorText, loadLanguage, onLanguageChange, setupSwitch, t } from "./i18n.js";
import { buildInside, clearInside, relabelInside, showFilters, showInside } from "./inside.js";
import { clearLab, labInside, relabelLab, setupLab, showLab } from "./lab.js";
import { relabelTraining, setupTraining } from "./train.js";

const status = document.getElementById("status");
let statusLine = { key: null, values: {} };
let inFlight = false;
let sendAgain = false;  // the drawing changed while a request was in flight
let generation = 0;     // bumped by Clear, so late answers for an old drawing are dropped

function setStatus(key, values = {}, isError = false) {
  statusLine = { key, values, isError };
  status.textContent = typeof key === "function" ? key() : t(key, values);
  status.classList.toggle("error", isError);
}

const pad = createPad(document.getElementById("pad"), send);

async function send() {
  if (inFlight) { sendAgain = true; return; }
  inFlight = true;
  const sentFor = generation;
  const started = performance.now();
  try {
    const answer = await labInside(await pad.png());  // /api/inside's answer, under the lab controls
    if (sentFor !== generation) return;
    show(answer.networks, answer.input);
    showInside(answer.networks);
    showLab(answer);
    setStatus("answered", { ms: Math.round(performance.now() - started) });
  } catch (err) {
    if (sentFor !== generation) return;
    setStatus(() => errorText(err), {}, true);
    status.title = err.message;
  } finally {
    inFlight = false;
    if (sendAgain) { sendAgain = false; send(); }
  }
}

document.getElementById("clear").addEventListener("click", () => {
  generation += 1;
  pad.clear();
  showEmpty();
  clearInside();
  clearLab();
  setStatus("ready");
});

// (Re)load what the server serves: the panels, the layers and the filters; used again after training.
async function loadNetworks() {
  const [info, architecture] = await Promise.all([getInfo(), getArchitecture()]);
  buildPanels(info);
  buildInside(architecture, info.networks);
  await showFilters(info.networks.some((net) => net.name === "cnn"));
  if (pad.hasInk()) send();
}

onLanguageChange(() => {
  relabel();
  relabelInside();
  relabelTraining();
  relabelLab();
  if (statusLine.key) setStatus(statusLine.key, statusLine.values, statusLine.isError);
});

async function start() {
  try {
    await loadLanguage();
    setupSwitch();
    setStatus("loading");
    await setupLab(() => { if (pad.hasInk()) send(); });
    await loadNetworks();
    setStatus("ready");
    await setupTraining(loadNetworks);
  } catch (err) {
    setStatus(() => errorText(err), {}, true);
    status.title = err.message;
  }
}

start();
