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

function draw(bitmap, entry, meta) {
  const canvas = $("canvas");
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const scale = Math.max(bitmap.width, bitmap.height) / 640;
  const radius = Math.max(1.5, 2 * scale), width = Math.max(1, 1.5 * scale);
  const skeleton = meta.skeleton || [];
  let points = 0;
  const instances = instancesOf(entry);
  for (const inst of instances) {
    if (inst.box) {
      ctx.strokeStyle = "rgb(255, 0, 0)";
      ctx.lineWidth = width;
      ctx.strokeRect(inst.box[0], inst.box[1], inst.box[2] - inst.box[0], inst.box[3] - inst.box[1]);
    }
    const pts = inst.points;
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
  $("count").textContent = `${n} instance${n === 1 ? "" : "s"}` + (meta.skeleton ? `, ${points} keypoints` : "");
}

async function predict(file) {
  const name = $("module").value;
  if (!name) return;
  $("count").textContent = "";
  $("json").textContent = "";
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
  let body;
  try {
    const reply = await fetch(`/predict/${encodeURIComponent(name)}`, { method: "POST", body: form });
    body = await reply.json();
    $("json").textContent = JSON.stringify(body, null, 1);
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
  draw(bitmap, entry, modules[name]);
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
