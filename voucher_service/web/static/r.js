/* The voucher page, /r and /r#<token>.
   The voucher shows at once, from the token itself; then its signature is checked here
   (WebCrypto, ES256, against /.well-known/jwks.json) and its status read from its
   programme's status list. A partner's person redeems through the page's own endpoints.
   No library: the barcode reader is loaded only when the scan button is pressed. */
(function () {
  "use strict";

  var root = document.getElementById("r");
  if (!root) return;
  var role = root.dataset.role; // partner | other | public
  var issuer = root.dataset.issuer;
  var programs = {};
  try { programs = JSON.parse(root.dataset.programs || "{}"); } catch (e) { /* codes only */ }
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.content : "";
  var JWKS_KEY = "vs-jwks";
  var JWKS_LIFE_MS = 5 * 60 * 1000;
  var ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  var VENDOR = "/static/vendor/barcode-detector/";

  function $(id) { return document.getElementById(id); }
  function show(el, yes) { if (el) el.hidden = !yes; }
  function text(el, value) { if (el) el.textContent = value; }

  var money = new Intl.NumberFormat("fr-FR", { style: "currency", currency: "EUR" });
  var day = new Intl.DateTimeFormat("fr-FR", {
    timeZone: "Europe/Paris", day: "numeric", month: "long", year: "numeric"
  });
  function euros(cents) { return money.format(cents / 100); }
  function parisDay(seconds) { return day.format(new Date(seconds * 1000)); }

  // --- JWS -------------------------------------------------------------------------------
  function bytes(segment) {
    var s = segment.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out;
  }
  function jsonOf(segment) { return JSON.parse(new TextDecoder().decode(bytes(segment))); }

  /* A compact JWS read without checking anything: header, claims, what is signed. */
  function readJws(token) {
    var parts = token.split(".");
    if (parts.length !== 3 || !/^[A-Za-z0-9_-]+$/.test(parts.join(""))) {
      throw new Error("malformed");
    }
    var header = jsonOf(parts[0]);
    var claims = jsonOf(parts[1]);
    if (!header || typeof header !== "object" || !claims || typeof claims !== "object") {
      throw new Error("malformed");
    }
    return {
      header: header,
      claims: claims,
      signed: new TextEncoder().encode(parts[0] + "." + parts[1]),
      signature: bytes(parts[2])
    };
  }

  function cachedKeys() {
    try {
      var kept = JSON.parse(localStorage.getItem(JWKS_KEY) || "null");
      if (kept && Date.now() - kept.at < JWKS_LIFE_MS && Array.isArray(kept.keys)) return kept.keys;
    } catch (e) { /* no storage (private mode): ask again */ }
    return null;
  }
  var keysAsked = null; // one request for the JWKS, whoever needs it first
  function fetchKeys() {
    if (!keysAsked) keysAsked = askKeys();
    return keysAsked;
  }
  function askKeys() {
    return fetch("/.well-known/jwks.json", { cache: "no-cache" })
      .then(function (r) { if (!r.ok) throw new Error("jwks " + r.status); return r.json(); })
      .then(function (doc) {
        try { localStorage.setItem(JWKS_KEY, JSON.stringify({ at: Date.now(), keys: doc.keys })); }
        catch (e) { /* storage full or refused: fine */ }
        return doc.keys;
      });
  }
  /* The key the JWS names: from the cache, or a fresh JWKS when it is not there (a new key). */
  function keyFor(kid) {
    var keys = cachedKeys();
    var found = keys && keys.find(function (k) { return k.kid === kid; });
    if (found) return Promise.resolve(found);
    return fetchKeys().then(function (fresh) {
      return fresh.find(function (k) { return k.kid === kid; }) || null;
    });
  }
  /* true when an ES256 key of our JWKS signed it. */
  function signatureHolds(jws) {
    if (jws.header.alg !== "ES256" || typeof jws.header.kid !== "string") return Promise.resolve(false);
    if (jws.signature.length !== 64) return Promise.resolve(false);
    return keyFor(jws.header.kid).then(function (jwk) {
      if (!jwk || jwk.kty !== "EC" || jwk.crv !== "P-256") return false;
      return crypto.subtle.importKey(
        "jwk", { kty: "EC", crv: "P-256", x: jwk.x, y: jwk.y, ext: true },
        { name: "ECDSA", namedCurve: "P-256" }, false, ["verify"]
      ).then(function (key) {
        return crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, key, jws.signature, jws.signed);
      });
    });
  }

  /* The voucher's 2 bits in its programme's status list (0 valid, 1 cancelled or expired,
     2 not handed out yet, 3 redeemed); the list's own signature is checked too. */
  function statusOf(program, index) {
    return fetch("/v1/status-lists/" + encodeURIComponent(program), { cache: "no-cache" })
      .then(function (r) { if (!r.ok) throw new Error("status list " + r.status); return r.text(); })
      .then(function (jwt) {
        var list = readJws(jwt.trim());
        var about = String(list.claims.sub || "");
        if (about.slice(-("/v1/status-lists/" + program).length) !== "/v1/status-lists/" + program) {
          throw new Error("another programme's list");
        }
        return signatureHolds(list).then(function (holds) {
          if (!holds) throw new Error("status list not signed by us");
          var sl = list.claims.status_list;
          var ds = new DecompressionStream("deflate");
          var stream = new Blob([bytes(sl.lst)]).stream().pipeThrough(ds);
          return new Response(stream).arrayBuffer().then(function (buffer) {
            var packed = new Uint8Array(buffer);
            var bits = sl.bits || 1;
            var per = 8 / bits;
            var at = Math.floor(index / per);
            if (at >= packed.length) throw new Error("index out of the list");
            return (packed[at] >> ((index % per) * bits)) & ((1 << bits) - 1);
          });
        });
      });
  }

  // --- What the page shows ---------------------------------------------------------------
  var card = $("cheque");
  var verdict = $("verdict");
  var redeemButton = $("redeem");
  var okBox = $("outcome-ok");
  var koBox = $("outcome-ko");
  var current = null; // what a redemption sends: {token} or {code}
  var idemKey = null; // one per voucher shown: a double tap, or a retry, redeems once
  var lastRedemption = null; // the redemption of the voucher on screen, if done here

  function setVerdict(kind, title, detail) {
    verdict.className = "verdict " + kind;
    verdict.textContent = "";
    var strong = document.createElement("span");
    strong.textContent = title;
    verdict.appendChild(strong);
    if (detail) {
      var more = document.createElement("span");
      more.className = "detail";
      more.textContent = detail;
      verdict.appendChild(more);
    }
    verdict.dataset.verdict = kind;
    if (kind !== "pending" && window.performance && performance.mark && !performance.getEntriesByName("r-verdict").length) {
      performance.mark("r-verdict"); // bench/r_page.py reads it
    }
    card.classList.toggle("void", kind === "bad");
  }

  function showCard(value, expiry, program) {
    text($("v-value"), value);
    text($("v-exp"), expiry);
    text($("v-prog"), program || "");
    show($("v-prog-row"), !!program);
    show(card, true);
    show($("intro"), false);
    show($("outcome-server"), false);
    show(okBox, false);
    show(koBox, false);
    show(redeemButton, false);
    show(verdict, true);
    setVerdict("pending", "Vérification du chèque…");
  }

  function outcome(good, title, lines) {
    var box = good ? okBox : koBox;
    show(good ? koBox : okBox, false);
    box.textContent = "";
    var head = document.createElement("p");
    head.className = "outcome-title";
    head.textContent = title;
    box.appendChild(head);
    lines.forEach(function (line) {
      var p = document.createElement("p");
      p.className = line[0];
      p.textContent = line[1];
      box.appendChild(p);
    });
    show(box, true);
    box.setAttribute("tabindex", "-1");
    box.focus();
  }

  var STATUS_TEXT = {
    1: ["Chèque annulé ou expiré", "Il ne peut plus être utilisé."],
    2: ["Chèque pas encore remis", "Son carnet n’a pas encore été activé par la structure qui le distribue."],
    3: ["Chèque déjà utilisé", "Il a déjà été encaissé par un lieu partenaire."]
  };

  /* A token from the fragment: shown now, then checked. */
  function showToken(token) {
    var jws;
    current = { token: token };
    idemKey = null;
    try {
      jws = readJws(token);
    } catch (e) {
      showCard("—", "—", "");
      setVerdict("bad", "Chèque illisible ou falsifié", "Ce lien ne contient pas un chèque valable. Ne l’acceptez pas.");
      return;
    }
    var c = jws.claims;
    var readable = typeof c.v === "number" && typeof c.exp === "number" && typeof c.p === "string";
    showCard(readable ? euros(c.v) : "—", readable ? parisDay(c.exp) : "—",
      readable ? (programs[c.p] || c.p) : "");
    if (!readable || c.iss !== issuer) {
      setVerdict("bad", "Chèque falsifié", "Ce chèque n’a pas été émis par ce service. Ne l’acceptez pas.");
      return;
    }
    // Everything asked at once: the key, the status list and, for a venue, the service.
    var holdsP = signatureHolds(jws);
    var statusP = typeof c.s === "number" ? statusOf(c.p, c.s) : Promise.resolve(null);
    statusP.catch(function () { /* said below */ });
    var serverP = role === "partner" ? verifyOnServer() : null;
    holdsP.then(function (holds) {
      if (!holds) {
        setVerdict("bad", "Chèque falsifié", "Sa signature n’est pas la nôtre. Ne l’acceptez pas.");
        return;
      }
      if (c.exp * 1000 <= Date.now()) {
        setVerdict("bad", "Chèque expiré", "Il n’était valable que jusqu’au " + parisDay(c.exp) + ".");
        return;
      }
      return statusP.then(function (status) {
        if (status && STATUS_TEXT[status]) {
          setVerdict("bad", STATUS_TEXT[status][0], STATUS_TEXT[status][1]);
        } else {
          setVerdict("good", "Chèque valable", "Signature vérifiée : ni utilisé, ni annulé.");
        }
        if (role === "public") showVenues(c.p);
        if (serverP) return serverP.then(function (answer) { judged(answer, status); });
      }, function () {
        setVerdict("good", "Signature vérifiée", "Son état (déjà utilisé ou non) n’a pas pu être lu pour l’instant.");
        if (role === "public") showVenues(c.p);
        if (serverP) return serverP.then(function (answer) { judged(answer, null); });
      });
    }).catch(function () {
      setVerdict("pending", "Vérification impossible pour l’instant", "Vérifiez votre connexion internet, puis rechargez la page.");
    });
  }

  function post(path, body, headers) {
    var h = { "Content-Type": "application/json", "X-CSRFToken": csrf, "Accept": "application/json" };
    Object.keys(headers || {}).forEach(function (k) { h[k] = headers[k]; });
    return fetch(path, {
      method: "POST", headers: h, body: JSON.stringify(body), credentials: "same-origin", cache: "no-store"
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) { return { status: r.status, body: j }; });
    });
  }

  /* The partner's view: what a redemption would meet, from the service itself. */
  function verifyOnServer() {
    return post("/r/verify", current).catch(function () { return null; });
  }
  function judged(answer, localStatus) {
    if (!answer) {
      setVerdict("pending", "Le service ne répond pas", "Vérifiez la connexion, puis réessayez.");
      return null;
    }
    var b = answer.body;
    if (answer.status !== 200) {
      setVerdict("bad", "Chèque refusé", b.message || "Ce chèque ne peut pas être encaissé.");
      return b;
    }
    if (b.redeemable) {
      if (localStatus) setVerdict("good", "Chèque valable", "Le service confirme qu’il peut être encaissé.");
      redeemButton.textContent = "Encaisser " + b.value_text;
      redeemButton.disabled = false;
      show(redeemButton, true);
      if (window.performance && performance.mark) performance.mark("r-redeemable");
    } else {
      setVerdict("bad", "Chèque refusé", b.message || "Ce chèque ne peut pas être encaissé.");
    }
    return b;
  }
  function askServer(localStatus) {
    return verifyOnServer().then(function (answer) { return judged(answer, localStatus); });
  }

  function redeem() {
    if (!current || redeemButton.disabled) return;
    redeemButton.disabled = true;
    redeemButton.setAttribute("aria-busy", "true");
    var label = redeemButton.textContent;
    redeemButton.textContent = "Encaissement en cours…";
    idemKey = idemKey || (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random());
    post("/r/redeem", current, { "Idempotency-Key": idemKey }).then(function (answer) {
      redeemButton.removeAttribute("aria-busy");
      var b = answer.body;
      show(verdict, false); // the outcome says it, larger
      if (answer.status === 201 || answer.status === 200) {
        lastRedemption = b.id;
        show(redeemButton, false);
        if (current.code && $("code")) { // ready for the next code
          $("code").value = "";
          text($("code-msg"), "");
        }
        outcome(true, "Chèque encaissé", [["outcome-amount", b.value_text], ["", "le " + b.when]]);
      } else {
        show(redeemButton, false);
        outcome(false, "Chèque refusé", [["", b.message || "Ce chèque ne peut pas être encaissé."]]);
      }
      refreshToday();
    }, function () {
      redeemButton.removeAttribute("aria-busy");
      redeemButton.disabled = false;
      redeemButton.textContent = label;
      outcome(false, "Pas de réponse du service", [["", "Le chèque n’est peut-être pas encaissé. Appuyez de nouveau : il ne sera jamais encaissé deux fois."]]);
    });
  }

  function refreshToday() {
    var section = $("jour");
    if (!section) return;
    fetch("/r/today", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) { if (html !== null) section.innerHTML = html; })
      .catch(function () { /* the list is refreshed on the next load */ });
  }

  /* "Annuler" in the day's list: sent from here, the voucher on screen stays. */
  function setUpReversals() {
    var section = $("jour");
    if (!section) return;
    section.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList || !form.classList.contains("reverse")) return;
      event.preventDefault();
      var button = form.querySelector("button");
      if (button.disabled) return;
      button.disabled = true;
      var id = form.querySelector('input[name="redemption_id"]').value;
      show($("jour-msg"), false);
      show($("jour-err"), false);
      post("/r/reverse", { redemption_id: id }).then(function (answer) {
        if (answer.status === 200) {
          text($("jour-msg"), answer.body.message);
          show($("jour-msg"), true);
          if (id === lastRedemption && current) {
            // The voucher on screen is redeemable again: say so, and offer the button anew.
            lastRedemption = null;
            idemKey = null;
            show(okBox, false);
            show(verdict, true);
            setVerdict("good", "Encaissement annulé", "Ce chèque peut de nouveau être encaissé.");
            askServer(null);
          }
        } else {
          text($("jour-err"), answer.body.message || "Cet encaissement n’a pas pu être annulé.");
          show($("jour-err"), true);
          button.disabled = false;
        }
        refreshToday();
      }, function () {
        text($("jour-err"), "Pas de réponse du service : l’encaissement n’est peut-être pas annulé. Réessayez.");
        show($("jour-err"), true);
        button.disabled = false;
      });
    });
  }

  // --- The typed code --------------------------------------------------------------------
  function normalise(typed) {
    return typed.replace(/[\s-]/g, "").toUpperCase().replace(/O/g, "0").replace(/[IL]/g, "1");
  }
  function checkCharacter(body) {
    var factor = 2, total = 0;
    for (var i = body.length - 1; i >= 0; i--) {
      var addend = factor * ALPHABET.indexOf(body[i]);
      total += Math.floor(addend / 32) + (addend % 32);
      factor = factor === 2 ? 1 : 2;
    }
    return ALPHABET[(32 - (total % 32)) % 32];
  }
  /* [state, message]: state "" (not finished), "bad" or "good". */
  function judgeCode(typed) {
    var code = normalise(typed);
    if (!code) return ["", ""];
    for (var i = 0; i < code.length; i++) {
      if (ALPHABET.indexOf(code[i]) < 0) {
        return ["bad", "Le caractère « " + code[i] + " » n’existe pas dans un code (seulement des chiffres et des lettres, sans I, L, O ni U)."];
      }
    }
    if (code.length < 13) return ["", code.length + " caractère" + (code.length > 1 ? "s" : "") + " sur 13."];
    if (code.length > 13) return ["bad", "Trop de caractères : un code en a 13."];
    if (checkCharacter(code.slice(0, 12)) !== code[12]) {
      return ["bad", "Erreur de saisie : ce code n’existe pas (le dernier caractère ne correspond pas). Vérifiez chaque caractère."];
    }
    return ["good", "Code bien saisi."];
  }

  function setUpCodeForm() {
    var form = $("code-form");
    var field = $("code");
    var msg = $("code-msg");
    if (!form || !field) return;
    var last = null;
    function judge() {
      var j = judgeCode(field.value);
      msg.className = "code-msg " + j[0];
      if (j[1] !== last) { msg.textContent = j[1]; last = j[1]; }
      if (j[0] === "bad") field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
      return j[0];
    }
    field.addEventListener("input", judge);
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var state = judge();
      if (state !== "good") {
        if (state === "") { msg.className = "code-msg bad"; msg.textContent = "Le code n’est pas complet : il a 13 caractères."; }
        field.focus();
        return;
      }
      var code = normalise(field.value);
      current = { code: code };
      idemKey = null;
      showCard("…", "…", "");
      setVerdict("pending", "Vérification du code…");
      askServer(null).then(function (b) {
        if (b && b.value_text) {
          text($("v-value"), b.value_text);
          text($("v-exp"), b.expires_text);
        } else {
          text($("v-value"), "—");
          text($("v-exp"), "—");
        }
        card.scrollIntoView({ block: "start" });
      });
    });
    if (field.value) judge();
  }

  // --- The camera ------------------------------------------------------------------------
  var stream = null;
  var scanning = false;

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = function () { reject(new Error("script " + src)); };
      document.head.appendChild(s);
    });
  }
  function detectorClass() {
    var Native = window.BarcodeDetector;
    var native = Native && Native.getSupportedFormats
      ? Native.getSupportedFormats().then(function (f) { return f.indexOf("qr_code") >= 0 ? Native : null; }, function () { return null; })
      : Promise.resolve(null);
    return native.then(function (found) {
      if (found) return found;
      return loadScript(VENDOR + "barcode-detector.js").then(function () {
        var api = window.BarcodeDetectionAPI;
        api.prepareZXingModule({
          overrides: {
            locateFile: function (path, prefix) {
              return path.endsWith(".wasm") ? VENDOR + "zxing_reader.wasm" : prefix + path;
            }
          }
        });
        return api.BarcodeDetector;
      });
    });
  }
  function stopScan() {
    scanning = false;
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    show($("video"), false);
    show($("scan-stop"), false);
    show($("scan-start"), true);
  }
  function found(raw) {
    var m = /\/r#([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+)/.exec(raw);
    if (m) { stopScan(); location.hash = m[1]; return true; }
    if (judgeCode(raw)[0] === "good") {
      stopScan();
      $("code").value = raw;
      $("code-form").requestSubmit();
      return true;
    }
    return false;
  }
  function startScan() {
    var msg = $("scan-msg");
    var video = $("video");
    text(msg, "Ouverture de l’appareil photo…");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      text(msg, "Cet appareil ne permet pas de scanner ici : saisissez le code du chèque ci-dessous.");
      return;
    }
    detectorClass().then(function (Detector) {
      var detector = new Detector({ formats: ["qr_code"] });
      return navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          show(video, true);
          show($("scan-start"), false);
          show($("scan-stop"), true);
          $("scan-stop").focus();
          return video.play();
        })
        .then(function () {
          text(msg, "Visez le QR code du chèque.");
          scanning = true;
          (function tick() {
            if (!scanning) return;
            detector.detect(video).then(function (codes) {
              for (var i = 0; i < codes.length; i++) if (found(codes[i].rawValue)) return;
              setTimeout(tick, 200);
            }, function () { setTimeout(tick, 400); });
          })();
        });
    }).catch(function (error) {
      stopScan();
      var denied = error && (error.name === "NotAllowedError" || error.name === "SecurityError");
      text(msg, denied
        ? "L’accès à l’appareil photo a été refusé : saisissez le code du chèque ci-dessous."
        : "L’appareil photo n’a pas pu être utilisé : saisissez le code du chèque ci-dessous.");
    });
  }

  // --- The beneficiary's view: where to use it ---------------------------------------------
  function showVenues(program, near) {
    var section = $("lieux");
    if (!section) return;
    show(section, true);
    var url = "/r/venues?p=" + encodeURIComponent(program) + (near ? "&near=" + near : "");
    fetch(url).then(function (r) { return r.json(); }).then(function (doc) {
      var list = $("lieux-liste");
      list.textContent = "";
      (doc.items || []).forEach(function (v) {
        var li = document.createElement("li");
        var name = document.createElement("span");
        name.className = "name";
        name.textContent = v.name + (v.distance ? " (" + v.distance + ")" : "");
        li.appendChild(name);
        li.appendChild(document.createTextNode(v.address + " " + v.postcode));
        if (v.services.length) {
          var what = document.createElement("span");
          what.className = "far";
          what.textContent = " · " + v.services.join(", ");
          li.appendChild(what);
        }
        list.appendChild(li);
      });
      text($("lieux-msg"), doc.items && doc.items.length
        ? (near ? "Du plus proche au plus éloigné." : "")
        : "Aucun lieu n’est encore inscrit pour ce programme.");
    }).catch(function () { text($("lieux-msg"), "La liste des lieux n’a pas pu être chargée."); });
    var button = $("near-me");
    if (button && !button.dataset.ready) {
      button.dataset.ready = "1";
      button.addEventListener("click", function () {
        if (!navigator.geolocation) { text($("lieux-msg"), "Votre appareil ne donne pas sa position."); return; }
        text($("lieux-msg"), "Recherche de votre position…");
        navigator.geolocation.getCurrentPosition(function (pos) {
          showVenues(program, pos.coords.latitude.toFixed(4) + "," + pos.coords.longitude.toFixed(4));
        }, function () {
          text($("lieux-msg"), "Votre position n’est pas disponible : les lieux sont classés par nom.");
        }, { timeout: 10000, maximumAge: 600000 });
      });
    }
  }

  // --- Start -------------------------------------------------------------------------------
  function fromHash() {
    var token = location.hash.slice(1);
    try { token = decodeURIComponent(token); } catch (e) { /* shown as unreadable below */ }
    if (!token) return false;
    show($("scanner"), false);
    show($("saisie"), false);
    showToken(token);
    return true;
  }

  if (redeemButton) redeemButton.addEventListener("click", redeem);
  setUpCodeForm();
  setUpReversals();
  if ($("scan-start")) {
    $("scan-start").addEventListener("click", startScan);
    $("scan-stop").addEventListener("click", stopScan);
  }
  window.addEventListener("hashchange", function () { if (!fromHash()) location.reload(); });
  if (!fromHash()) show($("scanner"), true);
})();
