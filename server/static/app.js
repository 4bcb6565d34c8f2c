// The upload page of huskyai: choose or drop a photo, upload it with
// progress, show the verdict. No inline script, no third-party code.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), drop = $("drop"), input = $("file");
  let maxUpload = 10 * 1024 * 1024;

  function show(el, on) { el.hidden = !on; }

  function mib(n) { return (n / (1024 * 1024)).toFixed(n % (1024 * 1024) ? 1 : 0) + " MiB"; }

  function setError(msg) {
    $("error").textContent = msg;
    show($("error"), !!msg);
    // The preview would show a broken image, or a photo the error is not about.
    if (msg) show($("preview-box"), false);
  }

  // Model information and the placeholder warning.
  fetch("/api/v1/model").then((r) => r.json()).then((m) => {
    if (m.warning) {
      $("warning").textContent = "Warning: " + m.warning;
      show($("warning"), true);
    }
    if (m.max_upload) {
      maxUpload = m.max_upload;
      $("max-upload").textContent = mib(maxUpload);
    }
    if (m.model) {
      $("model").textContent = "Model: " + m.model.name + " (sha256 " + String(m.model.sha256).slice(0, 12) + "…)";
    }
  }).catch(() => {});

  const messages = {
    400: "The upload was not understood. Please choose the file again.",
    413: "This file is too large.",
    415: "This is not a PNG, JPEG or GIF image.",
    422: "This image could not be read: it is damaged or too large in pixels.",
    429: "Too many requests from your address. Please wait a moment before trying again.",
    503: "The server is busy. Please try again in a moment.",
  };

  function upload(file) {
    setError("");
    show($("result"), false);
    if (!/^image\/(png|jpeg|gif)$/.test(file.type) && file.type !== "") {
      setError("This is not a PNG, JPEG or GIF image.");
      return;
    }
    if (file.size > maxUpload) {
      setError("This file is too large: the limit is " + mib(maxUpload) + ".");
      return;
    }
    const img = $("preview");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    show($("preview-box"), true);

    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    const bar = $("progress");
    bar.value = 0;
    show($("progress-box"), true);
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      show($("progress-box"), false);
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status !== 200 || !body) {
        const detail = body && body.error ? " (" + body.error.message + ")" : "";
        let msg = messages[xhr.status] || "Something went wrong (HTTP " + xhr.status + ").";
        const wait = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
        if (xhr.status === 429 && body && body.error && body.error.code === "probing_suspected") {
          msg = "Too many nearly identical images from your address. Please wait before trying again.";
        }
        if (xhr.status === 429 && wait > 0) msg += " You can try again in " + wait + (wait === 1 ? " second." : " seconds.");
        setError(msg + detail);
        return;
      }
      showResult(body);
    });
    xhr.addEventListener("error", () => {
      show($("progress-box"), false);
      setError("The upload failed: the server could not be reached.");
    });
    xhr.open("POST", "/api/v1/predict");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(data);
  }

  function showResult(r) {
    const placeholder = r.warning ? " — the model is an untrained placeholder, so this means nothing." : "";
    $("verdict").textContent = r.text;
    // A server run with --label-only answers the verdict without
    // probability and score: no gauge then.
    const scored = typeof r.probability === "number";
    show($("gauge"), scored);
    if (scored) {
      const pct = Math.max(0, Math.min(100, r.probability * 100));
      $("score").textContent = "Husky score: " + r.score + "%" + placeholder;
      const g = $("gauge-bar");
      g.style.width = pct + "%";
      g.classList.toggle("husky", r.label === "husky");
    } else {
      $("score").textContent = placeholder ? "The model is an untrained placeholder, so this means nothing." : "";
    }
    show($("score"), !!$("score").textContent);
    show($("result"), true);
  }

  input.addEventListener("change", () => { if (input.files.length) upload(input.files[0]); });
  form.addEventListener("submit", (e) => { e.preventDefault(); if (input.files.length) upload(input.files[0]); });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => {
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) upload(f);
  });
})();
