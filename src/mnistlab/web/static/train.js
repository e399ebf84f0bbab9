// Training from the page: the settings form, Start and Stop, and while a job runs a live uPlot chart
// of the per-step loss and its running average over 60 steps (the practice's own figure), progress,
// images/s and the test accuracy after each epoch.

import uPlot from "./vendor/uPlot.esm.js";
import { followTraining, getTraining, startTraining, stopTraining } from "./api.js";
import { errorText, number, percent, t } from "./i18n.js";

const form = document.getElementById("train-form");
const startButton = document.getElementById("train-start");
const stopButton = document.getElementById("train-stop");
const progress = document.getElementById("train-progress");
const stepsText = document.getElementById("train-steps");
const speedText = document.getElementById("train-speed");
const message = document.getElementById("train-message");
const epochRows = document.querySelector("#train-epochs tbody");
const results = document.querySelector(".train-results");  // hidden until a job starts

let chart = null;
let series = [[], [], []];  // steps, loss per step, running average
let job = null;             // the job this page follows
let source = null;
let last = { message: null, values: {} };  // the status message, re-translated on a language change
let onFinished = () => {};

function say(key, values = {}, isError = false) {
  last = { message: key, values, isError };
  message.textContent = typeof key === "function" ? key() : t(key, values);
  message.classList.toggle("error", isError);
}

function makeChart() {
  const box = document.getElementById("train-chart");
  box.replaceChildren();
  chart = new uPlot({
    width: Math.max(320, box.clientWidth), height: 240,
    scales: { x: { time: false } },
    axes: [{ label: t("chart_step") }, { label: t("chart_loss_axis") }],
    series: [
      { label: t("chart_step") },
      { label: t("chart_loss"), stroke: "rgba(47, 111, 222, 0.35)", width: 1 },
      { label: t("chart_average"), stroke: "#d92d20", width: 2 },
    ],
    legend: { live: false },
  }, series, box);
}

function setRunning(running) {
  startButton.disabled = running;
  stopButton.disabled = !running;
  form.querySelectorAll("select, input").forEach((field) => { field.disabled = running; });
}

function settings() {
  const data = new FormData(form);
  const chosen = { model: data.get("model"), recipe: data.get("recipe") };
  for (const name of ["epochs", "seed", "max_steps"]) {
    const value = data.get(name);
    if (value !== null && value !== "") chosen[name] = Number(value);
  }
  return chosen;
}

function reset() {
  results.hidden = false;
  series = [[], [], []];
  epochRows.replaceChildren();
  progress.value = 0;
  stepsText.textContent = "";
  speedText.textContent = "";
  makeChart();
}

const handlers = {
  start(data) {
    progress.max = data.total_steps;
    say("training_running", { network: data.settings.model === "cnn" ? "CNN" : "MultiLayerNN" });
  },
  step(data) {
    for (const [step, loss, average] of data.points) {
      series[0].push(step);
      series[1].push(loss);
      series[2].push(average);
    }
    chart.setData(series);
    document.getElementById("train-chart").dataset.points = String(series[0].length);
    progress.max = data.total_steps;
    progress.value = data.step;
    stepsText.textContent = t("progress", { step: number(data.step), total: number(data.total_steps) });
    speedText.textContent = t("speed", { rate: number(data.images_per_second) });
  },
  epoch(data) {
    const row = document.createElement("tr");
    row.dataset.accuracy = String(data.test_accuracy);
    row.innerHTML = `<td>${data.epoch}</td><td>${number(data.loss, 4)}</td><td class="accuracy">${percent(data.test_accuracy, 2)}</td>`;
    epochRows.appendChild(row);
  },
  async done(data) {
    await onFinished(data);  // the page answers with the new network before it says so
    setRunning(false);
    const run = data.run.split(/[\\/]/).filter(Boolean).pop();
    message.dataset.run = data.run;
    say("training_done", { percent: percent(data.test_accuracy, 2), run });
  },
  failed(data) {
    setRunning(false);
    say(() => errorText(data), {}, data.code !== "cancelled");
  },
  lost() {
    setRunning(false);
    say("unreachable", {}, true);
  },
};

function follow(description) {
  if (results.hidden) reset();
  job = description;
  source?.close();
  setRunning(true);
  source = followTraining(job.events, handlers);
}

export function relabelTraining() {
  if (last.message) say(last.message, last.values, last.isError);
  if (chart) {
    const data = series;
    makeChart();
    chart.setData(data);
  }
}

// `finished(doneData)` runs when a job ends well (the page then loads the new network).
export async function setupTraining(finished) {
  onFinished = finished;
  results.hidden = true;
  const state = await getTraining();
  if (!state.allowed) {
    setRunning(true);
    stopButton.disabled = true;
    say("training_off", {}, true);
    return;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    reset();
    say("training_starting");
    try {
      follow(await startTraining(settings()));
    } catch (err) {
      setRunning(false);
      say(() => errorText(err), {}, true);
      message.title = err.message;
    }
  });
  stopButton.addEventListener("click", async () => {
    if (!job) return;
    stopButton.disabled = true;
    try { await stopTraining(job.id); } catch (err) { say(() => errorText(err), {}, true); }
  });
  if (state.job && !state.job.finished) follow(state.job);  // a reload while a job runs: replay it
}
