// The drawing pad: pointer strokes (mouse, pen or finger) on a 280×280 canvas, dark ink on white, and a
// throttled callback while drawing (a long stroke still gets answers as it is drawn, not only when it ends).
//
// The pen's width follows the drawing's size. The networks see the ink scaled into a 20×20 box, so a
// fixed 24 px pen that suits a digit as large as the pad becomes a blob in a small one (a small 2 was read
// as "8, 98 %"): the strokes are kept and redrawn with a width in MNIST's proportion to the digit.

const PEN_SHARE = 0.125;   // pen width per pixel of the drawing's longest side: about MNIST's 2.5 px in 20
const MAX_PEN = 24;        // on the 280 px canvas: a digit as large as the pad
const MIN_PEN = 5;         // a first dot still shows
const SMALL_SHARE = 0.3;   // a drawing whose longest side is under this share of the pad is "small"
const SEND_EVERY_MS = 150; // while drawing, at most one callback per this many milliseconds

// `onChange()` is called (throttled) when the drawing changed; `onPending()`, if given, as soon as a
// call is scheduled (the page marks its answers as being updated).
export function createPad(pad, onChange, onPending = () => {}) {
  const ctx = pad.getContext("2d");
  let strokes = [];  // each a list of {x, y} in canvas pixels
  let drawing = null;  // the pointer id of the stroke being drawn
  let timer = null;

  // The longest side of the strokes' bounding box, in canvas pixels (0 for a dot, -1 when blank).
  function extent() {
    const points = strokes.flat();
    if (!points.length) return -1;
    const xs = points.map((p) => p.x);
    const ys = points.map((p) => p.y);
    return Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys));
  }

  const penWidth = () => Math.min(MAX_PEN, Math.max(MIN_PEN, PEN_SHARE * extent()));

  function render() {
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, pad.width, pad.height);
    const width = penWidth();
    ctx.strokeStyle = ctx.fillStyle = "#111";
    ctx.lineWidth = width;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    for (const stroke of strokes) {
      ctx.beginPath();
      if (stroke.length === 1) {
        ctx.arc(stroke[0].x, stroke[0].y, width / 2, 0, 2 * Math.PI);
        ctx.fill();
        continue;
      }
      ctx.moveTo(stroke[0].x, stroke[0].y);
      for (const p of stroke.slice(1)) ctx.lineTo(p.x, p.y);
      ctx.stroke();
    }
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    return { x: (event.clientX - box.left) * (pad.width / box.width),
             y: (event.clientY - box.top) * (pad.height / box.height) };
  }

  function schedule(delay) {
    if (!strokes.length) return;
    if (delay === 0) clearTimeout(timer);
    else if (timer !== null) return;
    timer = setTimeout(() => { timer = null; onChange(); }, delay);
    onPending();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (!event.isPrimary || drawing !== null) return;  // a second finger neither draws nor scrolls
    event.preventDefault();
    try { pad.setPointerCapture(event.pointerId); } catch { /* a synthetic event's pointer: nothing to capture */ }
    drawing = event.pointerId;
    strokes.push([point(event)]);
    render();
    schedule(SEND_EVERY_MS);
  });

  pad.addEventListener("pointermove", (event) => {
    if (event.pointerId !== drawing) return;
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    strokes[strokes.length - 1].push(...(events.length ? events : [event]).map(point));
    render();
    schedule(SEND_EVERY_MS);
  });

  function endStroke(event) {
    if (event.pointerId !== drawing) return;
    drawing = null;
    schedule(0);
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);

  render();
  return {
    hasInk: () => strokes.length > 0,
    // Whether the digit is small on the pad (it is then read less well, whatever its pen width).
    tooSmall: () => strokes.length > 0 && extent() + penWidth() < SMALL_SHARE * pad.width,
    penWidth,
    png: () => new Promise((resolve) => pad.toBlob(resolve, "image/png")),
    clear() {
      clearTimeout(timer);
      timer = null;
      strokes = [];
      drawing = null;
      render();
    },
  };
}
