{% load static %}/* Offline copies of the member's own pages (docs/member-pages.md "Offline and install").

Network first. A page whose answer carries the header Kundklubb-Offline-Copy (the card,
Mina sidor, the points page, the vouchers: members.offline) is kept, the last copy only,
in this phone's Cache Storage; without a network that copy is shown, marked so that the
page says "Visas offline, uppdaterad 14:05". Any other page without a network gets the
local offline page instead of the browser's error page.

Pictures (rewards, offers, challenges, badges) are kept too, the last PICTURES_KEEP of them,
cache first: their file names are never reused (docs/pictures.md), so a kept picture is never
stale, and a kept page shows its pictures offline even after the browser's own cache has let
them go.

The copies are personal: a different member's header, a member page that now redirects to
the login page, and logging out throw every copy away, the pictures with them (which offers
a member got says something about them). */
const PERSONAL = "kundklubb-member-v1";
const STATIC = "kundklubb-static-v2";
const PICTURES = "kundklubb-pictures-v1";
const PICTURES_PATH = "{{ pictures_path|escapejs }}";
const PICTURES_KEEP = 150;
const OLD = ["kundklubb-card-v1", "kundklubb-static-v1"];
const HEADER = "Kundklubb-Offline-Copy";
const OWNER = "/__offline-owner__";
const OFFLINE_URL = "{{ offline_url|escapejs }}";
const LOGOUT_URL = "{{ logout_url|escapejs }}";
const PRECACHE = [
  "{% static 'css/app.css' %}",
  "{% static 'js/app.js' %}",
  "{% static 'js/offline.js' %}",
  "{% static 'js/live.js' %}",
  "{% static 'icons/icon.svg' %}",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(STATIC).then((cache) => cache.addAll([...PRECACHE, OFFLINE_URL])).catch(() => {})
  );
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  const keep = [PERSONAL, STATIC, PICTURES];
  event.waitUntil(
    caches.keys().then((keys) => Promise.all(keys.filter((k) => !keep.includes(k)).map((k) => caches.delete(k))))
  );
  self.clients.claim();
});

// offline.js asks to forget the copies (a visitor who is not logged in, logging out).
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "forget") event.waitUntil(forget());
});

function forget() {
  return Promise.all([PERSONAL, PICTURES, ...OLD].map((name) => caches.delete(name)));
}

async function keep(request, response) {
  const owner = response.headers.get(HEADER);
  let cache = await caches.open(PERSONAL);
  const previous = await cache.match(OWNER);
  if (previous && (await previous.text()) !== owner) {
    await forget(); // another member on this phone: nothing of the last one stays
    cache = await caches.open(PERSONAL);
  }
  const headers = new Headers(response.headers);
  headers.set("Kundklubb-Saved-At", new Date().toISOString());
  const body = await response.blob();
  await cache.put(OWNER, new Response(owner));
  await cache.put(request, new Response(body, { status: 200, headers }));
}

// The copy, marked for offline.js: <html data-offline="copy" data-offline-at="...">.
async function marked(response, kind) {
  const text = await response.text();
  const at = response.headers.get("Kundklubb-Saved-At") || "";
  const html = text.replace("<html ", `<html data-offline="${kind}" data-offline-at="${at}" `);
  return new Response(html, { status: 200, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

async function offlineAnswer(request) {
  const cache = await caches.open(PERSONAL);
  const copy = await cache.match(request, { ignoreVary: true });
  if (copy) return marked(copy, "copy");
  const page = await caches.match(OFFLINE_URL, { ignoreVary: true });
  if (page) return marked(page, "page");
  return Response.error();
}

// The offline page in the language the member now reads the site in.
async function offlinePageRefresh(language) {
  if (!language) return;
  const cache = await caches.open(STATIC);
  const current = await cache.match(OFFLINE_URL, { ignoreVary: true });
  if (current && current.headers.get("Content-Language") === language) return;
  await cache.add(OFFLINE_URL).catch(() => {});
}

async function picture(event) {
  const cache = await caches.open(PICTURES);
  const kept = await cache.match(event.request, { ignoreVary: true });
  if (kept) return kept;
  const response = await fetch(event.request); // offline and never kept: no picture, as before
  if (response.ok) event.waitUntil(pictureKeep(cache, event.request, response.clone()));
  return response;
}

// Keep the picture, and only the newest PICTURES_KEEP (the cache lists them oldest first).
async function pictureKeep(cache, request, response) {
  await cache.put(request, response);
  const keys = await cache.keys();
  const surplus = keys.length - PICTURES_KEEP;
  if (surplus > 0) await Promise.all(keys.slice(0, surplus).map((key) => cache.delete(key)));
}

async function page(event) {
  const request = event.request;
  let response;
  try {
    response = await fetch(request);
  } catch {
    return offlineAnswer(request);
  }
  if (response.ok) event.waitUntil(offlinePageRefresh(response.headers.get("Content-Language")));
  if (response.ok && !response.redirected && response.headers.has(HEADER)) {
    event.waitUntil(keep(request, response.clone()));
  } else if (response.type === "opaqueredirect" || response.redirected) {
    // A kept page now sends to the login page: the session is over, so are the copies.
    const cache = await caches.open(PERSONAL);
    if (await cache.match(request, { ignoreVary: true })) event.waitUntil(forget());
  }
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.method === "POST" && url.pathname === LOGOUT_URL) {
    event.waitUntil(forget()); // the answer is the browser's as usual
    return;
  }
  if (request.method !== "GET") return;
  if (request.mode === "navigate") {
    event.respondWith(page(event));
    return;
  }
  if (PICTURES_PATH && url.pathname.startsWith(PICTURES_PATH)) {
    event.respondWith(picture(event));
    return;
  }
  if (!PRECACHE.includes(url.pathname)) return;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          event.waitUntil(caches.open(STATIC).then((cache) => cache.put(request, copy)));
        }
        return response;
      })
      .catch(() => caches.match(request, { ignoreVary: true }).then((hit) => hit || Response.error()))
  );
});
