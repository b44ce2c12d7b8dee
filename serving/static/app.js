// The try-it page: POST the chosen image (multipart) to /predict/<module> and draw the returned
// keypoints, skeleton and boxes client-side, with the skeleton and colours from /models.
"use strict";
const $ = (id) => document.getElementById(id);
const modules = {};

function rgb(bgr, fallback) {  // keypoints.json colours are BGR (OpenCV)
  return bgr ? `rgb(${bgr[2]}, ${bgr[1]}, ${bgr[0]})` : fallback;
}

function setStatus(text, isError) {
  $("status").textContent = text;
  $("status").className = isError ? "error" : "";
}

async function loadModules() {
  const reply = await fetch("/models");
  const list = (await reply.json()).modules;
  for (const m of list) {
    modules[m.name] = m;
    const option = document.createElement("option");
    option.value = m.name;
    option.textContent = `${m.name} (${m.type})`;
    $("module").appendChild(option);
  }
  setStatus(list.length ? "Ready: choose or drop an image." : "No module is served.", !list.length);
}

// Each result entry as a list of instances {box, points}: keypoint entries carry "instances",
// detector entries carry box dicts in "data".
function instancesOf(entry) {
  if (Array.isArray(entry.instances)) {
    return entry.instances.map((i) => ({ box: i.box, points: i.keypoints || [] }));
  }
  return (entry.data || []).filter((d) => d && d.left !== undefined)
    .map((d) => ({ box: [d.left, d.top, d.right, d.bottom], points: [] }));
}

// The image fitted to the view: small images scaled up, large ones down (the canvas is drawn at the size shown).
function fitScale(width, height) {
  const room = $("canvas").parentElement.clientWidth - 2;  // the canvas border
  const tall = Math.max(320, window.innerHeight * 0.8);
  return Math.min(room / width, tall / height);
}

// Dot radius and line width from each instance's own size on screen, as hub_core/draw.py does.
function styleOf(inst, scale) {
  let box = inst.box;
  if (!box && inst.points.length) {
    const xs = inst.points.map((p) => p[0]), ys = inst.points.map((p) => p[1]);
    box = [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)];
  }
  const size = box ? Math.sqrt(Math.max(box[2] - box[0], 0) * Math.max(box[3] - box[1], 0)) * scale : 0;
  const radius = Math.max(1, size / 50);
  return { radius, width: Math.max(1, radius / 2) };
}

function draw(bitmap, entry, meta) {
  const canvas = $("canvas");
  const scale = fitScale(bitmap.width, bitmap.height);
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  const skeleton = meta.skeleton || [];
  let points = 0;
  const instances = instancesOf(entry);
  for (const inst of instances) {
    const { radius, width } = styleOf(inst, scale);
    const pts = inst.points.map((p) => [p[0] * scale, p[1] * scale]);
    if (inst.box) {
      const [x1, y1, x2, y2] = inst.box.map((v) => v * scale);
      ctx.strokeStyle = "rgb(255, 0, 0)";
      ctx.lineWidth = width;
      ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    }
    skeleton.forEach(([a, b], k) => {
      if (!pts[a] || !pts[b]) return;
      ctx.strokeStyle = rgb(meta.link_colors && meta.link_colors[k], "rgb(0, 255, 0)");
      ctx.lineWidth = width;
      ctx.beginPath();
      ctx.moveTo(pts[a][0], pts[a][1]);
      ctx.lineTo(pts[b][0], pts[b][1]);
      ctx.stroke();
    });
    pts.forEach((p, k) => {
      ctx.fillStyle = rgb(meta.keypoint_colors && meta.keypoint_colors[k], "rgb(0, 128, 255)");
      ctx.beginPath();
      ctx.arc(p[0], p[1], radius, 0, 2 * Math.PI);
      ctx.fill();
    });
    points += pts.length;
  }
  const n = instances.length;
  return `${n} instance${n === 1 ? "" : "s"}` + (meta.skeleton ? `, ${points} keypoints` : "");
}

async function predict(file) {
  const name = $("module").value;
  if (!name) return;
  $("count").textContent = "";
  $("json").textContent = "";
  $("summary").textContent = "Response";
  setStatus(`Running ${name} on ${file.name} ...`);
  let bitmap;
  try {
    // No EXIF rotation: the server decodes the stored pixels, so the points refer to those.
    bitmap = await createImageBitmap(file, { imageOrientation: "none" });
  } catch (e) {
    setStatus(`${file.name}: the browser cannot read this image`, true);
    return;
  }
  const form = new FormData();
  form.append("images", file, file.name);
  let body, ms;
  try {
    const start = performance.now();
    const reply = await fetch(`/predict/${encodeURIComponent(name)}`, { method: "POST", body: form });
    body = await reply.json();
    ms = Math.round(performance.now() - start);
    $("json").textContent = JSON.stringify(body, null, 1);
    $("summary").textContent = `Response (${ms} ms, HTTP ${reply.status}): show JSON`;
    if (!reply.ok || body.status !== "000") {
      setStatus(`HTTP ${reply.status}, status ${body.status}: ${body.msg}`, true);
      return;
    }
  } catch (e) {
    setStatus(`request failed: ${e}`, true);
    return;
  }
  const entry = body.results[0];
  if (entry.error) {
    setStatus(entry.error, true);
    return;
  }
  const counts = draw(bitmap, entry, modules[name]);
  $("count").textContent = counts;
  $("summary").textContent = `Response: ${counts}, ${ms} ms (show JSON)`;
  setStatus(`${name}: done`);
}

$("file").addEventListener("change", (e) => { if (e.target.files[0]) predict(e.target.files[0]); });
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  if (e.dataTransfer.files[0]) predict(e.dataTransfer.files[0]);
});
loadModules().catch((e) => setStatus(`cannot list modules: ${e}`, true));
