// The drawing pad: pointer strokes on a 280×280 canvas, dark ink on white, and a throttled callback
// while drawing (a long stroke still gets answers as it is drawn, not only when it ends).

const STROKE_WIDTH = 24;   // on the 280 px canvas; about MNIST's stroke once the digit is scaled to 20 px
const SEND_EVERY_MS = 150; // while drawing, at most one callback per this many milliseconds

export function createPad(pad, onChange) {
  const ctx = pad.getContext("2d");
  let hasInk = false;
  let last = null;  // last pointer position while a stroke is drawn
  let timer = null;

  function blank() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.strokeStyle = "#111";
    ctx.fillStyle = "#111";
    ctx.lineWidth = STROKE_WIDTH;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * (pad.width / box.width),
             y: (event.clientY - box.top) * (pad.height / box.height) };
  }

  function schedule(delay) {
    if (!hasInk) return;
    if (delay === 0) clearTimeout(timer);
    else if (timer !== null) return;
    timer = setTimeout(() => { timer = null; onChange(); }, delay);
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, STROKE_WIDTH / 2, 0, 2 * Math.PI);
    ctx.fill();
    hasInk = true;
    schedule(SEND_EVERY_MS);
  });

  pad.addEventListener("pointermove", (event) => {
    if (last === null) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    for (const e of events.length ? events : [event]) {
      last = point(e);
      ctx.lineTo(last.x, last.y);
    }
    ctx.stroke();
    schedule(SEND_EVERY_MS);
  });

  function endStroke() {
    if (last === null) return;
    last = null;
    schedule(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  blank();
  return {
    hasInk: () => hasInk,
    png: () => new Promise((resolve) => pad.toBlob(resolve, "image/png")),
    clear() {
      clearTimeout(timer);
      timer = null;
      hasInk = false;
      blank();
    },
  };
}
