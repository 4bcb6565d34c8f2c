// The upload page of huskyai: choose, drop, paste or photograph an image,
// upload it with progress, show the verdict, and on request why (a
// heatmap from POST /api/v1/explain). No inline script, no third-party
// code.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const form = $("form"), drop = $("drop"), input = $("file"), camera = $("camera");
  let maxUpload = 10 * 1024 * 1024;
  // Explanations: whether the server gives them, the file the verdict is
  // about, and its explanation once fetched (an object URL and a summary).
  let explains = false, lastFile = null, why = null;

  function show(el, on) { el.hidden = !on; }

  function mib(n) { return (n / (1024 * 1024)).toFixed(n % (1024 * 1024) ? 1 : 0) + " MiB"; }

  const reducedMotion = window.matchMedia("(prefers-reduced-motion: reduce)");

  // reveal scrolls el into view if it is not all visible: on a phone the
  // answer is below the photo, under the fold. Where the photo and the
  // answer are side by side it is usually in view already, and nothing
  // moves.
  function reveal(el) {
    el.scrollIntoView({ block: "nearest", behavior: reducedMotion.matches ? "auto" : "smooth" });
  }

  // After the photo is laid out, so that the scroll is not undone by the
  // image taking its height.
  function revealAfterPreview(el) {
    const img = $("preview");
    const ready = $("preview-box").hidden || !img.src ? Promise.resolve() : img.decode().catch(() => {});
    ready.then(() => reveal(el));
  }

  function setError(msg) {
    $("error").textContent = msg;
    show($("error"), !!msg);
    // The preview would show a broken image, or a photo the error is not about.
    if (msg) {
      show($("preview-box"), false);
      reveal($("error"));
    }
  }

  // Model information and the placeholder warning.
  fetch("/api/v1/model").then((r) => r.json()).then((m) => {
    if (m.warning) {
      $("warning").textContent = "Warning: " + m.warning;
      show($("warning"), true);
    }
    explains = m.explanations === true;
    if (m.max_upload) {
      maxUpload = m.max_upload;
      $("max-upload").textContent = mib(maxUpload);
    }
    if (m.model) {
      $("model").textContent = "Model: " + m.model.name + " (sha256 " + String(m.model.sha256).slice(0, 12) + "…)";
    }
  }).catch(() => {});

  // The page's own words, for answers without a message of the API's (a
  // proxy's error page), and for the few whose message is written for
  // programs rather than people: a malformed form, a limit in bytes, a
  // rate limit's parameters.
  const messages = {
    400: "The upload was not understood. Please choose the file again.",
    413: () => "This file is too large: the limit is " + mib(maxUpload) + ".",
    415: "The file is not a PNG, JPEG or GIF image.",
    422: "This image could not be read: it is damaged or too large in pixels.",
    429: "Too many requests from your address. Please wait a moment before trying again.",
    503: "The server is busy. Please try again in a moment.",
  };
  const ownWords = { 400: true, 413: true, 429: true };

  // sentence makes the API's message ("the file is not a PNG, JPEG or GIF
  // image") a sentence.
  function sentence(s) {
    s = s.trim();
    s = s.charAt(0).toUpperCase() + s.slice(1);
    return /[.!?]$/.test(s) ? s : s + ".";
  }

  // errorMessage is the one message shown for a failed upload: the API's
  // own, or the page's words (see messages), never both.
  function errorMessage(xhr, body) {
    const err = body && body.error;
    if (xhr.status === 429) {
      let msg = err && err.code === "probing_suspected"
        ? "Too many nearly identical images from your address. Please wait before trying again."
        : messages[429];
      const wait = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
      if (wait > 0) msg += " You can try again in " + wait + (wait === 1 ? " second." : " seconds.");
      return msg;
    }
    if (err && typeof err.message === "string" && err.message.trim() && !ownWords[xhr.status]) {
      return sentence(err.message);
    }
    const own = messages[xhr.status];
    if (own) return typeof own === "function" ? own() : own;
    return "Something went wrong (HTTP " + xhr.status + ").";
  }

  function upload(file) {
    setError("");
    show($("result"), false);
    if (!/^image\/(png|jpeg|gif)$/.test(file.type) && file.type !== "") {
      setError(messages[415]);
      return;
    }
    if (file.size > maxUpload) {
      setError(messages[413]());
      return;
    }
    const img = $("preview");
    if (img.src) URL.revokeObjectURL(img.src);
    img.src = URL.createObjectURL(file);
    show($("preview-box"), true);
    lastFile = file;
    resetWhy();

    const data = new FormData();
    data.append("file", file);
    const xhr = new XMLHttpRequest();
    const bar = $("progress");
    bar.value = 0;
    show($("progress-box"), true);
    revealAfterPreview($("progress-box"));
    xhr.upload.addEventListener("progress", (e) => {
      if (e.lengthComputable) bar.value = Math.round((100 * e.loaded) / e.total);
    });
    xhr.addEventListener("load", () => {
      show($("progress-box"), false);
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status !== 200 || !body) {
        setError(errorMessage(xhr, body));
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
    show($("why"), explains && scored && !r.warning);
    show($("result"), true);
    revealAfterPreview($("result"));
  }

  // resetWhy forgets the explanation of the previous photo.
  function resetWhy() {
    if (why) URL.revokeObjectURL(why.url);
    why = null;
    showWhy(false);
    show($("why"), false);
    show($("why-status"), false);
  }

  // showWhy shows the heatmap instead of the photo, and its summary and
  // legend, or the photo again.
  function showWhy(on) {
    $("why").setAttribute("aria-pressed", on ? "true" : "false");
    show($("why-image"), on);
    show($("preview"), !on);
    show($("why-box"), on);
  }

  function whyStatus(msg) {
    $("why-status").textContent = msg;
    show($("why-status"), !!msg);
  }

  // explainFile asks the server why it answered as it did about file. An
  // explanation counts as many predictions for the rate limit: right
  // after the verdict the server may ask for a second's patience, which
  // is waited for once.
  function explainFile(file, retried) {
    const data = new FormData();
    data.append("file", file);
    whyStatus("Working out which parts of the photo mattered…");
    const xhr = new XMLHttpRequest();
    xhr.addEventListener("load", () => {
      if (file !== lastFile) return; // another photo meanwhile
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      const wait = parseInt(xhr.getResponseHeader("Retry-After") || "", 10);
      if (xhr.status === 429 && !retried && wait > 0 && wait <= 3 && !(body && body.error && body.error.code === "probing_suspected")) {
        setTimeout(() => explainFile(file, true), wait * 1000);
        return;
      }
      if (xhr.status !== 200 || !body || !body.explanation || !body.explanation.overlay_png) {
        whyStatus(errorMessage(xhr, body));
        return;
      }
      const png = Uint8Array.from(atob(body.explanation.overlay_png), (c) => c.charCodeAt(0));
      why = { url: URL.createObjectURL(new Blob([png], { type: "image/png" })), summary: body.explanation.summary };
      const img = $("why-image");
      img.src = why.url;
      img.alt = "Heatmap over the photo. " + why.summary;
      $("why-text").textContent = why.summary;
      whyStatus("");
      showWhy(true);
    });
    xhr.addEventListener("error", () => whyStatus("The explanation failed: the server could not be reached."));
    xhr.open("POST", "/api/v1/explain?overlay=true");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.send(data);
  }

  $("why").addEventListener("click", () => {
    if ($("why").getAttribute("aria-pressed") === "true") {
      showWhy(false);
    } else if (why) {
      showWhy(true);
    } else if (lastFile) {
      explainFile(lastFile, false);
    }
  });

  // picked uploads the file chosen in a file input, then empties the
  // input: choosing the same file again is a change, and uploads it again.
  function picked(el) {
    const f = el.files.length ? el.files[0] : null;
    el.value = "";
    if (f) upload(f);
  }

  input.addEventListener("change", () => picked(input));
  camera.addEventListener("change", () => picked(camera));
  form.addEventListener("submit", (e) => { e.preventDefault(); picked(input); });
  ["dragenter", "dragover"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.add("over"); }));
  ["dragleave", "drop"].forEach((t) => drop.addEventListener(t, (e) => { e.preventDefault(); drop.classList.remove("over"); }));
  drop.addEventListener("drop", (e) => {
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f) upload(f);
  });

  // Paste: the first image on the clipboard (a screenshot, an image copied
  // in another program or page). Anything else is left to the browser.
  document.addEventListener("paste", (e) => {
    const items = e.clipboardData ? Array.from(e.clipboardData.items) : [];
    const item = items.find((it) => it.kind === "file" && it.type.startsWith("image/"));
    const f = item && item.getAsFile();
    if (!f) return;
    e.preventDefault();
    upload(f);
  });

  // Features that need this script: pasting, and the camera (shown where
  // the pointer is a finger, see style.css).
  show($("paste-hint"), true);
  show($("camera-button"), true);
})();
