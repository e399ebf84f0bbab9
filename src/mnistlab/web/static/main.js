// mnistlab studio: wires the drawing pad to the answers and the inside view (one POST /api/lab per
// change of the drawing or of the lab controls: /api/inside's answer, moved as they say), the training
// panel and the language switch.

import { getArchitecture, getInfo } from "./api.js";
import { buildPanels, relabel, show, showEmpty, sourceName } from "./answers.js";
import { createPad } from "./draw.js";
import { errorText, fillText, loadLanguage, onLanguageChange, setupSwitch, statusLine, t } from "./i18n.js";
import { buildInside, clearInside, relabelInside, showFilters, showInside } from "./inside.js";
import { clearLab, labInside, relabelLab, setupLab, showLab } from "./lab.js";
import { refreshPicker, relabelPicker, setupPicker, use } from "./picker.js";
import { relabelTraining, setupTraining } from "./train.js";

const RETRY_SECONDS = 3;  // a failed first load is tried again after this long

const say = statusLine(document.getElementById("status"));
const padNote = document.getElementById("pad-note");
let request = null;     // the drawing's request in flight: {controller}
let sendAgain = false;  // the drawing changed while a request was in flight

// aria-busy on the answers while they are being updated (a change not yet answered): assistive
// technology waits for the update, and so can a test.
const answers = document.getElementById("networks");
function busy(updating) {
  answers.setAttribute("aria-busy", String(updating));
}

const pad = createPad(document.getElementById("pad"), send, () => busy(true));

function showPadNote() {
  padNote.hidden = !pad.tooSmall();
  if (!padNote.hidden) fillText(padNote, t("too_small"));
}

async function send() {
  showPadNote();
  if (!pad.hasInk()) { busy(false); return; }
  busy(true);
  if (request) { sendAgain = true; return; }
  const mine = request = { controller: new AbortController() };
  const started = performance.now();
  try {
    const answer = await labInside(await pad.png(), mine.controller.signal);
    if (request !== mine) return;  // cleared meanwhile: the answer is for a drawing that is gone
    show(answer.networks, answer.input);
    showInside(answer.networks);
    showLab(answer);
    say("answered", { ms: Math.round(performance.now() - started) });
  } catch (err) {
    if (request !== mine || err.name === "AbortError") return;
    say.error(err);
  } finally {
    if (request === mine) {
      request = null;
      if (sendAgain) { sendAgain = false; send(); } else busy(false);
    }
  }
}

document.getElementById("clear").addEventListener("click", () => {
  request?.controller.abort();
  request = null;
  sendAgain = false;
  busy(false);
  pad.clear();
  showPadNote();
  showEmpty();
  clearInside();
  clearLab();
  say("ready");
});

// (Re)load what the server serves: the panels, the layers and the filters; used again after training
// and when the picker changes a network.
async function loadNetworks() {
  const [info, architecture] = await Promise.all([getInfo(), getArchitecture()]);
  buildPanels(info);
  buildInside(architecture, info);
  await showFilters(architecture);
  if (pad.hasInk()) send();
  return info;
}

// A training from the page ended: whether the page now answers with its run (the server serves a new
// run at once only where its network had none; otherwise the picker offers it). Without a picker on the
// server, the server has switched to it.
async function trained(done) {
  const info = await loadNetworks();
  const runs = await refreshPicker(info);
  return !runs || Object.values(runs.serving).includes(sourceName(done.run));
}

onLanguageChange(() => {
  relabelPicker();
  relabel();
  relabelInside();
  relabelTraining();
  relabelLab();
  if (!padNote.hidden) showPadNote();
});

// `load()` tried again every few seconds until the server answers, the status line saying so.
async function untilLoaded(load) {
  for (;;) {
    try {
      return await load();
    } catch (err) {
      say(() => `${errorText(err)} ${t("retrying", { seconds: RETRY_SECONDS })}`, {}, { error: true, detail: err.message });
      await new Promise((resolve) => setTimeout(resolve, RETRY_SECONDS * 1000));
    }
  }
}

async function start() {
  try {
    await loadLanguage();
  } catch (err) {
    say.error(err);  // the texts themselves failed: the keys show, and the page still tries the rest
  }
  setupSwitch();
  say("loading");
  await untilLoaded(() => setupLab(send));  // before the first answer, which it shapes
  const info = await untilLoaded(loadNetworks);
  await untilLoaded(() => setupPicker(info, loadNetworks));
  await untilLoaded(() => setupTraining(info, { trained, use }));
  if (!pad.hasInk()) say("ready");
}

start();
