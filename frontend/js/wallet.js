// The browser wallet side of Thingbid: Sign-In with Ethereum through the page's EIP-1193 provider
// (MetaMask, Rabby, WalletConnect...). Bundled by scripts/build-js (esbuild) into
// frontend/static/dist/wallet.js and served same-origin: the CSP allows no CDN and no inline script.
import { createPublicClient, createWalletClient, custom, encodeAbiParameters, formatEther, getAddress, keccak256 } from "viem";
import { createSiweMessage } from "viem/siwe";
import { blake2b } from "@noble/hashes/blake2b";

function csrfToken() {
  const m = document.querySelector('meta[name="csrf-token"]');
  return m ? m.content : "";
}

async function call(url, body) {
  const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.method = "POST";
    init.headers["Content-Type"] = "application/json";
    init.headers["X-CSRF-Token"] = csrfToken();
    init.body = JSON.stringify(body);
  }
  const r = await fetch(url, init);
  const data = await r.json().catch(() => ({ error: "bad response (HTTP " + r.status + ")" }));
  if (!r.ok) {
    const err = new Error(data.error || "HTTP " + r.status);
    err.reason = data.reason;
    err.status = r.status;
    throw err;
  }
  return data;
}

export function walletClient() {
  if (!window.ethereum) throw new Error("no browser wallet found: install or unlock one (MetaMask, Rabby, ...)");
  return createWalletClient({ transport: custom(window.ethereum) });
}

// Ask the wallet for an account, sign an EIP-4361 message for this site, let the server check it.
export async function signIn() {
  const client = walletClient();
  const [raw] = await client.requestAddresses();
  const address = getAddress(raw);
  const chainId = await client.getChainId();
  const site = await call("/siwe/nonce.json");
  const issuedAt = new Date();
  const message = createSiweMessage({
    address, chainId, domain: window.location.host, uri: window.location.origin + "/", version: "1",
    nonce: site.nonce, statement: site.statement, issuedAt,
    expirationTime: new Date(issuedAt.getTime() + site.lifetime_s * 1000),
  });
  const signature = await client.signMessage({ account: address, message });
  return call("/siwe/verify", { message, signature });
}

function bindSignIn(button) {
  const status = document.getElementById("wallet-status");
  button.addEventListener("click", async () => {
    button.disabled = true;
    status.textContent = "waiting for your wallet…";
    status.className = "";
    try {
      const r = await signIn();
      status.textContent = "signed in as " + r.address;
      window.location.assign(button.dataset.next || "/");
    } catch (e) {
      status.textContent = "sign-in refused: " + (e.shortMessage || e.message);
      status.className = "error";
      status.dataset.reason = e.reason || "";
      button.disabled = false;
    }
  });
}

// ---- the key-delivery key: derived from a wallet signature over a fixed message ------------------
// Deterministic (RFC 6979) signatures give the same key on any machine with the same wallet. The
// private key stays in this page's memory; only its public half is sent (to be registered on chain).
export const KEY_MESSAGE = "Thingbid key-delivery key, version 1.\n\n" +
  "Signing this derives the key that opens the data-access keys devices seal to you. " +
  "It costs nothing and moves no funds; the signature never leaves your browser. " +
  "Anyone holding this signature can read your delivered keys: sign it only on a Thingbid site.";
const enc = new TextEncoder();
const PKCS8_X25519 = hexBytes("302e020100300506032b656e04220420");
const PKCS8_ED25519 = hexBytes("302e020100300506032b657004220420");
const SEALED_INFO = enc.encode("thingbid/sealed-box/v1\0");
const KEY_CONTEXT = enc.encode("thingbid/access-key/v1\0");

function hexBytes(hex) {
  const h = hex.startsWith("0x") ? hex.slice(2) : hex;
  const out = new Uint8Array(h.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(h.substr(2 * i, 2), 16);
  return out;
}
function bytesHex(b) {
  return Array.from(new Uint8Array(b), (x) => x.toString(16).padStart(2, "0")).join("");
}
function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
function b64url(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0));
}

async function hkdf(ikm, salt, info, usage) {
  const base = await crypto.subtle.importKey("raw", ikm, "HKDF", false, ["deriveKey", "deriveBits"]);
  if (usage === "bits") return new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, base, 256));
  return crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info }, base, { name: "AES-GCM", length: 256 }, false, ["decrypt"]);
}

const keyCache = new Map();
export async function deliveryKey(client, address) {
  if (keyCache.has(address)) return keyCache.get(address);
  const signature = await client.signMessage({ account: address, message: KEY_MESSAGE });
  const raw = await hkdf(hexBytes(signature), enc.encode("thingbid/wallet-key/v1"), enc.encode("x25519 key delivery"), "bits");
  const priv = await crypto.subtle.importKey("pkcs8", concat(PKCS8_X25519, raw), { name: "X25519" }, true, ["deriveBits"]);
  const pub = b64url((await crypto.subtle.exportKey("jwk", priv)).x);
  raw.fill(0);
  // The same signature gives the sealed-bid secrets: an HMAC key for the salts, an AES key for the amounts.
  const sig = hexBytes(signature);
  const saltRaw = await hkdf(sig, enc.encode("thingbid/wallet-key/v1"), enc.encode("sealed-bid salts"), "bits");
  const boxRaw = await hkdf(sig, enc.encode("thingbid/wallet-key/v1"), enc.encode("sealed-bid amounts"), "bits");
  const saltKey = await crypto.subtle.importKey("raw", saltRaw, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  const boxKey = await crypto.subtle.importKey("raw", boxRaw, "AES-GCM", false, ["encrypt", "decrypt"]);
  // And the tangle wallet: an Ed25519 key (address: BLAKE2b-256 of its public key, exchange/tangle/tx.py).
  const edRaw = await hkdf(sig, enc.encode("thingbid/wallet-key/v1"), enc.encode("tangle ed25519 key"), "bits");
  const edFull = await crypto.subtle.importKey("pkcs8", concat(PKCS8_ED25519, edRaw), { name: "Ed25519" }, true, ["sign"]);
  const tanglePub = b64url((await crypto.subtle.exportKey("jwk", edFull)).x);
  const tangleKey = await crypto.subtle.importKey("pkcs8", concat(PKCS8_ED25519, edRaw), { name: "Ed25519" }, false, ["sign"]);
  saltRaw.fill(0); boxRaw.fill(0); edRaw.fill(0); sig.fill(0);
  const key = { priv, pub, publicHex: bytesHex(pub), saltKey, boxKey, tangleKey, tanglePub,
                tangleAddress: bytesHex(blake2b(tanglePub, { dkLen: 32 })) };
  keyCache.set(address, key);
  try { localStorage.setItem("thingbid.x25519." + address.toLowerCase(), key.publicHex); } catch (e) { /* private mode */ }
  return key;
}

// exchange/crypto/sealed.py in WebCrypto: X25519 with an ephemeral key, HKDF-SHA256 salted with both
// public keys, AES-256-GCM with the context as associated data.
export async function openSealed(key, box, context) {
  const eph = box.slice(0, 32), nonce = box.slice(32, 44), ct = box.slice(44);
  const ephKey = await crypto.subtle.importKey("raw", eph, { name: "X25519" }, false, []);
  const shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: ephKey }, key.priv, 256));
  const aes = await hkdf(shared, concat(eph, key.pub), concat(SEALED_INFO, context));
  return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: nonce, additionalData: context }, aes, ct));
}

export function keyContext(auctionId) {
  const id = new Uint8Array(32);
  let n = BigInt(auctionId);
  for (let i = 31; i >= 0; i--) { id[i] = Number(n & 0xffn); n >>= 8n; }
  return concat(KEY_CONTEXT, id);
}

// ---- sealed bids: salts derived from the wallet, amounts sealed for any machine of the same wallet -------
function u256(n) {
  const out = new Uint8Array(32);
  let v = BigInt(n);
  for (let i = 31; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}
function fromU256(b) {
  return b.reduce((v, x) => (v << 8n) | BigInt(x), 0n);
}
const SALT_CONTEXT = enc.encode("thingbid/sealed-salt/v1\0");
const AMOUNT_CONTEXT = enc.encode("thingbid/sealed-amount/v1\0");

export async function sealedSalt(key, chainId, house, auctionId) {
  const msg = concat(SALT_CONTEXT, u256(chainId), hexBytes(house), u256(auctionId));
  return new Uint8Array(await crypto.subtle.sign("HMAC", key.saltKey, msg));
}
function amountAad(chainId, house, bidder, auctionId) {
  return concat(AMOUNT_CONTEXT, u256(chainId), hexBytes(house), hexBytes(bidder), u256(auctionId));
}
export function commitmentOf(bidder, house, auctionId, chainId, amount, salt) {
  return keccak256(encodeAbiParameters(
    [{ type: "address" }, { type: "address" }, { type: "uint256" }, { type: "uint256" }, { type: "uint256" }, { type: "bytes32" }],
    [bidder, house, BigInt(auctionId), BigInt(chainId), BigInt(amount), "0x" + bytesHex(salt)]));
}

// For each sealed bid of a plan: the commitment (sent to the chain) and the amount box (kept by the
// server, opened only by this wallet). The salt itself never leaves the browser before the reveal.
async function sealPlan(key, bidder, est) {
  const out = [];
  for (const b of est.sealed_bids) {
    const salt = await sealedSalt(key, est.chain_id, est.house, b.auction_id);
    const nonce = crypto.getRandomValues(new Uint8Array(12));
    const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: amountAad(est.chain_id, est.house, bidder, b.auction_id) },
                                           key.boxKey, u256(b.amount));
    out.push({ auction_id: b.auction_id, commitment: commitmentOf(bidder, est.house, b.auction_id, est.chain_id, b.amount, salt).slice(2),
               box: bytesHex(concat(nonce, new Uint8Array(ct))) });
    salt.fill(0);
  }
  return out;
}

// The reveal of sealed bids, on any machine: open each amount box, derive its salt, check the rebuilt
// commitment against the chain's, and only then hand (amount, salt) over for the revealBatch.
async function revealBody(ids) {
  const client = walletClient();
  const bidder = await account(client);
  const key = await deliveryKey(client, bidder);
  const site = await call("/wallet-tx/sealed.json?" + ids.map((i) => "auction_id=" + i).join("&"));
  const reveals = [];
  for (const b of site.bids) {
    if (!b.box) throw new Error("no sealed amount was kept for auction #" + b.auction_id + ": it cannot be revealed from here");
    const box = hexBytes(b.box);
    let plain;
    try {
      plain = new Uint8Array(await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: box.slice(0, 12), additionalData: amountAad(site.chain_id, site.house, bidder, b.auction_id) },
        key.boxKey, box.slice(12)));
    } catch (e) {
      throw new Error("the sealed amount of auction #" + b.auction_id + " does not open with this wallet");
    }
    const amount = fromU256(plain);
    const salt = await sealedSalt(key, site.chain_id, site.house, b.auction_id);
    if (commitmentOf(bidder, site.house, b.auction_id, site.chain_id, amount, salt) !== b.commitment.toLowerCase()) {
      throw new Error("auction #" + b.auction_id + ": the commitment on chain is not this wallet's bid");
    }
    reveals.push({ auction_id: b.auction_id, amount: amount.toString(), salt: "0x" + bytesHex(salt) });
  }
  return { reveals };
}

// ---- tangle transfers of a wallet session: built and signed here (exchange/tangle/tx.py, version 1) ----
function uint(n, bytes) {
  const out = new Uint8Array(bytes);
  let v = BigInt(n);
  for (let i = bytes - 1; i >= 0; i--) { out[i] = Number(v & 0xffn); v >>= 8n; }
  return out;
}
function compareBytes(a, b) {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
function leadingZeroBits(h) {
  let n = 0;
  for (const byte of h) {
    if (byte === 0) { n += 8; continue; }
    return n + Math.clz32(byte) - 24;
  }
  return n;
}

// essence = "TB" | version 1 | network u32 | kind u8 | timestamp_ms u64 | n_parents u8 | parents | issuer
//           | payload_len u32 | payload;  tx = essence | Ed25519 signature | nonce u64 (proof of work)
export async function tangleTransfer(key, prep, to, amount, memo) {
  const payload = concat(hexBytes(to), uint(amount, 8), uint(prep.sequence, 8), uint(memo.length, 2), memo);
  const parents = prep.parents.map(hexBytes).sort(compareBytes);
  const essence = concat(enc.encode("TB"), uint(1, 1), uint(prep.network, 4), uint(1, 1), uint(Date.now(), 8),
                         uint(parents.length, 1), ...parents, key.tanglePub, uint(payload.length, 4), payload);
  const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", key.tangleKey, essence));
  const prefix = concat(essence, sig);
  const base = blake2b.create({ dkLen: 32 }).update(prefix);
  for (let nonce = 0; ; nonce++) {
    const n = uint(nonce, 8);
    if (leadingZeroBits(base.clone().update(n).digest()) >= prep.pow_difficulty) return bytesHex(concat(prefix, n));
  }
}

async function showTangle(section, key) {
  const acct = await call("/wallet-tx/tangle/account.json?address=" + key.tangleAddress);
  section.querySelector("#tangle-address code").textContent = key.tangleAddress;
  section.querySelector("#tangle-balance").textContent = String(acct.balance);
  const body = section.querySelector("#tangle-history tbody");
  if (acct.history.length) {
    body.replaceChildren(...acct.history.map((t) => {
      const tr = document.createElement("tr");
      tr.className = t.direction;
      for (const text of [t.id + "…", t.direction === "in" ? "received" : "sent", String(t.amount), t.other + "…",
                          t.conflicting ? "conflicting" : t.confirmed ? "confirmed" : "pending"]) {
        const td = document.createElement("td");
        td.textContent = text;
        tr.append(td);
      }
      return tr;
    }));
  }
}

function bindTangle(section) {
  const status = section.querySelector("#tangle-status");
  const form = section.querySelector("form[data-wallet-tangle]");
  let key = null;
  const derive = async () => {
    const client = walletClient();
    const address = await account(client);
    status.textContent = "sign the key-delivery message in your wallet…";
    key = await deliveryKey(client, address);
    await call("/wallet-tx/tangle/prepare.json?address=" + key.tangleAddress);  // this session sends from it
    await showTangle(section, key);
    section.querySelector("#tangle-facts").hidden = false;
    form.hidden = false;
    const faucet = section.querySelector("#faucet-form");
    if (faucet) faucet.hidden = false;
    section.querySelector("#tangle-derive").hidden = true;
    status.textContent = "";
    section.dataset.tangleReady = "1";
  };
  section.querySelector("#tangle-derive").addEventListener("click", async (ev) => {
    ev.currentTarget.disabled = true;
    try { await derive(); } catch (e) {
      status.textContent = "cannot show the tangle wallet: " + (e.shortMessage || e.message);
      status.className = "error";
      ev.currentTarget.disabled = false;
    }
  });
  let out = form.querySelector("output.wallet-cost");
  if (!out) { out = document.createElement("output"); out.className = "wallet-cost"; form.append(out); }
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const btn = form.querySelector("button[type=submit]");
    btn.disabled = true;
    out.className = "wallet-cost";
    try {
      const fd = new FormData(form);
      const to = String(fd.get("to") || "").trim().toLowerCase();
      const amount = String(fd.get("amount") || "").trim();
      if (!/^[0-9a-f]{64}$/.test(to)) throw new Error("the address must be 64 hex digits");
      if (!/^[1-9][0-9]{0,15}$/.test(amount)) throw new Error("the amount must be a whole number of tokens, 1 or more");
      const prep = await call("/wallet-tx/tangle/prepare.json?address=" + key.tangleAddress);
      if (BigInt(amount) > BigInt(prep.balance)) throw new Error("your tangle balance (" + prep.balance + ") is too low to send " + amount);
      out.textContent = "signing and doing the proof of work…";
      const tx = await tangleTransfer(key, prep, to, amount, enc.encode("thingbid web wallet"));
      const r = await call("/wallet-tx/tangle/submit", { tx });
      out.textContent = "sent " + r.amount + " to " + r.to.slice(0, 16) + "… (" + r.state + ")";
      await showTangle(section, key);
    } catch (e) {
      out.textContent = "refused: " + (e.shortMessage || e.message);
      out.className = "wallet-cost error";
    } finally {
      btn.disabled = false;
    }
  });
}

// ---- streams bought by a wallet session: paid on the tangle and opened here ------------------------
// exchange/streams: the payment's memo asks for a span with this browser's X25519 key; the device's
// signed answer seals the channel root to that key; each channel message is signed by the device,
// hash-chained, and AES-GCM encrypted under its epoch's key (later epochs' keys come as grants).
const ROOT_CONTEXT = enc.encode("thingbid/stream-root/v1\0");
const MESSAGE_DOMAIN = enc.encode("thingbid/stream-message/v1\0");
const GRANT_ID = enc.encode("thingbid/grant-id\0");
const GRANT_AAD = enc.encode("thingbid/grant\0");
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function canonical(obj) {  // exchange/streams/protocol.py _canon: sorted keys, no spaces
  return JSON.stringify(Object.fromEntries(Object.keys(obj).sort().map((k) => [k, obj[k]])));
}
async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}
function readUint(b, off, n) {
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(b[off + i]);
  return Number(v);
}
function sameBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

class ChannelReader {
  constructor(root) {
    this.root = root;
    this.channel = hexBytes(root.channel);
    this.nextSeq = root.seq;
    this.prev = hexBytes(root.prev);
    this.epoch = root.epoch;
    this.key = null;
    this.grantRaw = hexBytes(root.grant_key);
  }
  async init() {
    this.pub = await crypto.subtle.importKey("raw", hexBytes(this.root.device_public), { name: "Ed25519" }, false, ["verify"]);
    this.key = await crypto.subtle.importKey("raw", hexBytes(this.root.key), "AES-GCM", false, ["decrypt"]);
    this.grantKey = await crypto.subtle.importKey("raw", this.grantRaw, "AES-GCM", false, ["decrypt"]);
    this.grantId = (await sha256(concat(GRANT_ID, this.grantRaw))).slice(0, 8);
  }
  // "TBS1" | channel 32 | seq u64 | prev 32 | epoch u32 | n u16 | grants n*(id 8 | nonce 12 | wrapped 48) | nonce 12
  parse(wire) {
    if (wire.length < 82 + 12 + 16 + 64 || new TextDecoder().decode(wire.slice(0, 4)) !== "TBS1") throw new Error("not a channel message");
    const n = readUint(wire, 80, 2);
    const end = 82 + n * 68;
    if (wire.length < end + 12 + 16 + 64) throw new Error("grant list does not fit the message");
    const grants = [];
    for (let i = 0; i < n; i++) {
      const o = 82 + i * 68;
      grants.push([wire.slice(o, o + 8), wire.slice(o + 8, o + 20), wire.slice(o + 20, o + 68)]);
    }
    return { channel: wire.slice(4, 36), seq: readUint(wire, 36, 8), prev: wire.slice(44, 76), epoch: readUint(wire, 76, 4),
             grants, nonce: wire.slice(end, end + 12), headerLen: end + 12 };
  }
  async verify(wire) {
    const h = this.parse(wire);
    if (!sameBytes(h.channel, this.channel)) throw new Error("a message of another channel");
    const ok = await crypto.subtle.verify("Ed25519", this.pub, wire.slice(-64), concat(MESSAGE_DOMAIN, wire.slice(0, -64)));
    if (!ok) throw new Error("message " + h.seq + ": bad device signature");
    return h;
  }
  async accept(wire, h) {
    if (!sameBytes(h.prev, this.prev)) throw new Error("message " + h.seq + " does not link to message " + (h.seq - 1));
    if (h.epoch !== this.epoch) {
      const g = h.grants.find(([gid]) => sameBytes(gid, this.grantId));
      if (!g) throw new Error("message " + h.seq + ": no read key for epoch " + h.epoch);
      const aad = concat(GRANT_AAD, this.channel, uint(h.seq, 8), uint(h.epoch, 4));
      const raw = new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: g[1], additionalData: aad }, this.grantKey, g[2]));
      this.key = await crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
      raw.fill(0);
      this.epoch = h.epoch;
    }
    const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: h.nonce, additionalData: wire.slice(0, h.headerLen) },
                                              this.key, wire.slice(h.headerLen, -64));
    this.nextSeq = h.seq + 1;
    this.prev = await sha256(wire);
    return new TextDecoder().decode(plain);
  }
}

function readingText(text) {
  try {
    const d = JSON.parse(text);
    if (d && typeof d === "object") {
      const parts = [];
      if (typeof d.t === "number") parts.push("time " + new Date(d.t * 1000).toISOString().slice(11, 19) + " UTC");
      for (const k of Object.keys(d).filter((k) => k !== "t").sort()) parts.push(k + "=" + String(d[k]));
      return parts.join(", ");
    }
  } catch (e) { /* not JSON: shown as text */ }
  return text.slice(0, 200);
}

async function followChannel(root, out, status) {
  const reader = new ChannelReader(root);
  await reader.init();
  const pending = new Map();
  let cursor = root.since;
  const started = Date.now();
  while (reader.nextSeq < root.span_end) {
    const page = await call("/wallet-tx/streams/messages.json?channel=" + root.channel + "&since=" + cursor);
    cursor = page.cursor;
    for (const w of page.wires) {
      const wire = hexBytes(w);
      let h;
      try { h = await reader.verify(wire); } catch (e) { continue; }  // noise or forgery under the tag: ignored
      if (h.seq >= reader.nextSeq && h.seq < root.span_end) pending.set(h.seq, [wire, h]);
    }
    while (pending.has(reader.nextSeq)) {
      const [wire, h] = pending.get(reader.nextSeq);
      pending.delete(reader.nextSeq);
      const li = document.createElement("li");
      li.textContent = readingText(await reader.accept(wire, h));  // textContent: device data never becomes markup
      out.append(li);
    }
    status.textContent = "active · " + out.children.length + " of " + root.span + " reading(s)";
    if (reader.nextSeq === root.seq && Date.now() - started > 5000 && root.since) { cursor = 0; root.since = 0; }  // rewind once
    if (reader.nextSeq < root.span_end) await sleep(400);
  }
  status.textContent = "ended · " + out.children.length + " reading(s)";
}

async function buyStream(form) {
  const section = document.getElementById("wallet-stream");
  const status = document.getElementById("wallet-stream-status");
  const out = document.getElementById("wallet-stream-readings");
  section.hidden = false;
  const fd = new FormData(form);
  const span = Number(fd.get("span"));
  if (!Number.isInteger(span) || span < 1) throw new Error("the number of messages must be a whole number, 1 or more");
  const client = walletClient();
  const bidder = await account(client);
  status.textContent = "sign the key-delivery message in your wallet…";
  const key = await deliveryKey(client, bidder);
  const nonce = bytesHex(crypto.getRandomValues(new Uint8Array(16)));
  const memo = enc.encode(canonical({ p: "thingbid/stream/1", t: "buy", dev: form.dataset.device, ch: form.dataset.channel,
                                      n: span, bk: key.publicHex, id: nonce }));
  const amount = BigInt(form.dataset.price) * BigInt(span);
  const prep = await call("/wallet-tx/tangle/prepare.json?address=" + key.tangleAddress);
  if (amount > BigInt(prep.balance)) throw new Error("your tangle balance (" + prep.balance + ") is too low to pay " + amount + " for " + span + " messages");
  status.textContent = "paying " + amount + " tokens (signed here)…";
  const paid = await call("/wallet-tx/tangle/submit", { tx: await tangleTransfer(key, prep, form.dataset.payTo, amount, memo) });
  status.textContent = "paid: waiting for the device's answer…";
  let answer;
  for (const t0 = Date.now(); ; await sleep(300)) {
    answer = await call("/wallet-tx/streams/answer.json?nonce=" + nonce + "&device_public=" + form.dataset.devicePublic + "&payment=" + paid.id);
    if (!answer.waiting) break;
    if (Date.now() - t0 > 60000) throw new Error("no answer from the device within 60 s (payment " + paid.id.slice(0, 16) + "…)");
  }
  if (!answer.sold) throw new Error("the device refused the sale: " + answer.reason + " (refund " + answer.refund + ")");
  const rootBytes = await openSealed(key, hexBytes(answer.box), concat(ROOT_CONTEXT, hexBytes(nonce)));
  const root = JSON.parse(new TextDecoder().decode(rootBytes));
  root.span = root.span_end - root.seq;
  if (root.channel !== form.dataset.channel || root.device_public !== form.dataset.devicePublic) throw new Error("the device answered with a root for another channel");
  section.dataset.sold = String(answer.sold);
  status.textContent = "active · bought " + answer.sold + " message(s)";
  await followChannel(root, out, status);
  section.dataset.ended = "1";
}

function bindStreamForms(forms) {
  for (const form of forms) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const btn = form.querySelector("button[type=submit]");
      btn.disabled = true;
      const status = document.getElementById("wallet-stream-status");
      try {
        await buyStream(form);
      } catch (e) {
        status.textContent = "stopped: " + (e.shortMessage || e.message);
        status.className = "error";
      } finally {
        btn.disabled = false;
      }
    });
  }
}

// ---- transactions prepared by the server, signed and sent by the wallet -------------------------
function eth(wei) {
  const n = Number(formatEther(BigInt(wei)));
  return (n === 0 ? "0" : n >= 1e-6 ? String(Number(n.toPrecision(6))) : BigInt(wei) + " wei") + (n >= 1e-6 || n === 0 ? " ETH" : "");
}

async function account(client) {
  const [raw] = await client.requestAddresses();
  return getAddress(raw);
}

export async function sendPrepared(client, address, step) {
  let hash;
  try {
    const tx = step.tx;
    hash = await client.sendTransaction({ account: address, chain: null, to: tx.to, data: tx.data,
                                          value: BigInt(tx.value), gas: BigInt(tx.gas) });
  } catch (e) {
    await call("/wallet-tx/declined", { token: step.token, reason: e.shortMessage || e.message }).catch(() => {});
    throw e;
  }
  const reader = createPublicClient({ transport: custom(window.ethereum), pollingInterval: 200 });
  await reader.waitForTransactionReceipt({ hash, pollingInterval: 200, timeout: 120000 });
  return call("/wallet-tx/sent", { token: step.token, tx_hash: hash });
}

function showCost(box, est) {
  const set = (id, text) => { const el = box.querySelector("#" + id); if (el) el.textContent = text; };
  set("cost-gas", est.gas.toLocaleString("en") + " gas in " + est.steps.length + " transaction(s)");
  set("cost-fee", eth(est.fee_wei) + " at " + (est.fee_per_gas / 1e9).toFixed(3) + " gwei");
  set("cost-bids", eth(est.bids_wei));
  set("cost-total", eth(est.total_wei));
  const list = box.querySelector("#cost-steps");
  if (list) {
    list.replaceChildren(...est.steps.map((s) => {
      const li = document.createElement("li");
      li.textContent = s.label + ": " + s.gas.toLocaleString("en") + " gas" + (s.value ? ", sends " + eth(s.value) : "");
      return li;
    }));
  }
  box.querySelector("#wallet-cost").hidden = false;
}

function estimateUrl(box) {
  const pub = box.dataset.x25519;
  return box.dataset.estimateUrl + (pub ? "?x25519_public=" + pub : "");
}

async function estimatePlan(box) {
  const status = box.querySelector("#wallet-plan-status");
  const sign = box.querySelector("#wallet-sign-plan");
  const prepare = box.querySelector("#wallet-prepare");
  status.textContent = "estimating gas…";
  let est;
  try {
    est = await call(estimateUrl(box));
  } catch (e) {
    status.textContent = "cannot place this plan with your wallet: " + e.message;
    status.className = "error";
    return null;
  }
  showCost(box, est);
  if (!est.ready) {
    const todo = est.steps.map((s) => s.kind === "deposit" ? "deposit the missing " + eth(est.need_deposit_wei)
                                                          : "register your key-delivery key");
    status.textContent = "first " + todo.join(" and ") + " (the bid batches are estimated after that)";
    prepare.textContent = todo.join(", then ").replace(/^./, (c) => c.toUpperCase()) + " with your wallet";
    prepare.hidden = false;
    prepare.dataset.steps = est.steps.map((s) => s.kind).join(",");
    prepare.dataset.amount = formatEther(BigInt(est.need_deposit_wei));
    sign.disabled = true;
  } else {
    status.textContent = "ready: your wallet will ask you to sign " + est.steps.length + " transaction(s)";
    prepare.hidden = true;
    sign.disabled = false;
  }
  return est;
}

async function prepareAccount(box, btn) {
  const status = box.querySelector("#wallet-plan-status");
  const client = walletClient();
  const address = await account(client);
  for (const kind of btn.dataset.steps.split(",")) {
    let body;
    if (kind === "register_key") {
      status.textContent = "sign the key-delivery message in your wallet…";
      const key = await deliveryKey(client, address);
      box.dataset.x25519 = key.publicHex;
      body = { x25519_public: key.publicHex };
    } else {
      body = { amount: btn.dataset.amount };
    }
    const step = await call("/wallet-tx/single/" + kind, body);
    status.textContent = "sign in your wallet: " + step.label + " (" + step.gas.toLocaleString("en") + " gas, " + eth(step.fee_wei) + ")";
    await sendPrepared(client, address, step);
  }
}

async function runPlan(box) {
  const status = box.querySelector("#wallet-plan-status");
  const bar = box.querySelector("#wallet-progress progress");
  const text = box.querySelector("#wallet-progress .progress-text");
  const client = walletClient();
  const address = await account(client);
  status.textContent = "sign the key-delivery message in your wallet (once per visit)…";
  const key = await deliveryKey(client, address);
  box.dataset.x25519 = key.publicHex;
  const est = await call(estimateUrl(box));
  const sealed = est.sealed_bids.length ? await sealPlan(key, address, est) : undefined;
  const run = await call(box.dataset.startUrl, { x25519_public: key.publicHex, sealed });
  box.querySelector("#wallet-progress").hidden = false;
  for (;;) {
    const step = await call(run.next_url, {});
    if (step.done) break;
    status.textContent = "sign in your wallet: " + step.label + " (" + step.gas.toLocaleString("en") + " gas, " +
      eth(step.fee_wei) + ")";
    await sendPrepared(client, address, step);
    const p = await call(run.progress_url);
    bar.value = p.percent;
    text.textContent = p.state + " · " + p.stage + " · batch " + p.done_batches + " of " + p.total_batches + " · " +
      p.placed + " placed, " + p.skipped + " skipped, " + p.failed + " failed";
  }
  window.location.assign(run.job_url);
}

function bindPlan(box) {
  const status = box.querySelector("#wallet-plan-status");
  const fail = (e) => {
    status.textContent = "stopped: " + (e.shortMessage || e.message);
    status.className = "error";
  };
  box.querySelector("#wallet-prepare").addEventListener("click", async (ev) => {
    const btn = ev.currentTarget;
    btn.disabled = true;
    try {
      await prepareAccount(box, btn);
      await estimatePlan(box);
    } catch (e) { fail(e); } finally { btn.disabled = false; }
  });
  box.querySelector("#wallet-sign-plan").addEventListener("click", async (ev) => {
    ev.currentTarget.disabled = true;
    try { await runPlan(box); } catch (e) { fail(e); }
  });
  estimatePlan(box);
}

// ---- keys delivered to a wallet session: opened here, shown here, never sent anywhere ----------
function tokenClaims(token) {
  const parts = token.split(".");
  const body = new TextDecoder().decode(b64url(parts[1]));
  return JSON.parse(body);
}

// The data viewer of a wallet session: only on the user's press is the one opened key sent to this
// server, which reads the device with it for this answer and keeps nothing.
// Or straight from the device (its WoT server answers CORS): the key goes to the device only. The series
// are built as frontend/device_data.py read_series builds them: the last 24 h of the key's period so far.
function timeLabel(t, withDate) {
  const iso = new Date(t * 1000).toISOString();
  return withDate ? iso.slice(0, 10) + " " + iso.slice(11, 16) : iso.slice(11, 16);
}
async function readDirect(btn, token) {
  const claims = tokenClaims(token);
  const hi = Math.min(Number(btn.dataset.now), claims.not_after - 1);
  const lo = Math.max(claims.not_before, hi - 24 * 3600);
  const step = hi > lo ? Math.max(1, Math.floor((hi - lo) / 200)) : 1;
  const withDate = new Date(lo * 1000).toISOString().slice(0, 10) !== new Date(Math.max(lo, hi) * 1000).toISOString().slice(0, 10);
  const series = [], errors = [];
  for (const p of JSON.parse(btn.dataset.props)) {
    try {
      const r = await fetch(btn.dataset.history, { method: "POST", credentials: "omit", referrerPolicy: "no-referrer",
        headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ property: p.name, from: lo, to: hi, step }) });
      const data = await r.json().catch(() => ({}));
      if (!r.ok) { errors.push(p.name + ": the device answered HTTP " + r.status + (data.reason ? " (" + data.reason + ")" : "")); continue; }
      const pts = (Array.isArray(data.readings) ? data.readings : []).slice(0, 5000)
        .filter((x) => x && typeof x.t === "number" && typeof x.value === "number" && Number.isFinite(x.value));
      if (pts.length) series.push({ name: p.name, unit: p.unit, labels: pts.map((x) => timeLabel(x.t, withDate)), values: pts.map((x) => x.value) });
    } catch (e) {
      errors.push(p.name + ": the device cannot be reached from this browser (" + e.message + ")");
    }
  }
  return { series, errors };
}

function clearCharts(box) {
  box.querySelectorAll("figure, ul.chart-errors").forEach((el) => {
    const c = el.querySelector && el.querySelector("canvas");
    if (c && window.Chart && window.Chart.getChart(c)) window.Chart.getChart(c).destroy();
    el.remove();
  });
  box.dataset.ready = "0";
}

function offerDataViewer(token) {
  const btn = document.getElementById("read-through-server");
  const box = document.querySelector("[data-wallet-charts]");
  if (!btn || !box) return;
  const status = box.querySelector(".chart-status");
  status.textContent = "";
  const direct = document.getElementById("read-direct");
  if (direct) {
    direct.hidden = false;
    direct.addEventListener("click", async () => {
      direct.disabled = true;
      status.textContent = "reading the device…";
      try {
        const data = await readDirect(direct, token);
        clearCharts(box);
        window.thingbidCharts(box, data);
        direct.hidden = true;
      } catch (e) {
        status.textContent = "could not read the device: " + e.message;
        direct.disabled = false;
      }
    });
  }
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    btn.disabled = true;
    status.textContent = "reading the device…";
    try {
      const data = await call(box.dataset.src, { token });
      clearCharts(box);
      window.thingbidCharts(box, data);
      btn.hidden = true;
    } catch (e) {
      status.textContent = "could not read the device: " + e.message;
      btn.disabled = false;
    }
  });
}

function bindKeys(buttons) {
  const status = document.getElementById("wallet-keys-status");
  for (const btn of buttons) {
    btn.addEventListener("click", async () => {
      btn.disabled = true;
      const out = btn.parentElement.querySelector("output.opened");
      try {
        const client = walletClient();
        const address = await account(client);
        status.textContent = "sign the key-delivery message in your wallet…";
        const key = await deliveryKey(client, address);
        const token = new TextDecoder().decode(await openSealed(key, hexBytes(btn.dataset.box), keyContext(btn.dataset.auction)));
        const claims = tokenClaims(token);
        const code = document.createElement("code");
        code.className = "token";
        code.textContent = token;
        const valid = document.createElement("span");
        valid.className = "valid";
        valid.textContent = " valid " + new Date(claims.not_before * 1000).toISOString() + " – " +
          new Date(claims.not_after * 1000).toISOString() + " (send it as Authorization: Bearer to the device)";
        out.replaceChildren(code, valid);
        out.hidden = false;
        btn.hidden = true;
        status.textContent = "opened in your browser";
        offerDataViewer(token);
      } catch (e) {
        status.textContent = "the key does not open: " + (e.shortMessage || e.message || e.name);
        status.className = "error";
        btn.disabled = false;
      }
    });
  }
}

// ---- one-transaction forms (deposit, withdraw, settle, reclaim, rate) of a wallet session --------
// First press: the server prepares the transaction and the form shows its gas and cost; second press:
// the wallet signs and sends it, and the server checks it on chain. Changing the form starts over.
async function walletFormBody(form) {
  const fd = new FormData(form);
  if (form.dataset.walletAction === "reveal") return revealBody(fd.getAll("auction_id").map(Number));
  const body = {};
  if (fd.has("amount")) body.amount = fd.get("amount");
  const ids = fd.getAll("auction_id").map(Number);
  if (ids.length) body.auction_ids = ids;
  if (fd.has("score")) body.score = Number(fd.get("score"));
  return body;
}

function bindWalletForms(forms) {
  for (const form of forms) {
    const btn = form.querySelector("button[type=submit]");
    const label = btn.textContent;
    let out = form.querySelector("output.wallet-cost");
    if (!out) {
      out = document.createElement("output");
      out.className = "wallet-cost";
      form.append(out);
    }
    let step = null;
    form.addEventListener("input", () => { step = null; btn.textContent = label; out.textContent = ""; });
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      btn.disabled = true;
      out.className = "wallet-cost";
      try {
        if (!step) {
          step = await call("/wallet-tx/single/" + form.dataset.walletAction, await walletFormBody(form));
          out.textContent = step.label + ": " + step.gas.toLocaleString("en") + " gas, fees " + eth(step.fee_wei) +
            ", total " + eth(step.total_wei) + " — press again to sign in your wallet";
          btn.textContent = "Sign in your wallet";
          return;
        }
        const client = walletClient();
        const address = await account(client);
        const prepared = step;
        step = null;
        out.textContent = "waiting for your wallet…";
        await sendPrepared(client, address, prepared);
        out.textContent = "done: " + prepared.label;
        window.location.reload();
      } catch (e) {
        step = null;
        btn.textContent = label;
        out.textContent = "refused: " + (e.shortMessage || e.message);
        out.className = "wallet-cost error";
      } finally {
        btn.disabled = false;
      }
    });
  }
}

window.thingbidWallet = { signIn, walletClient, deliveryKey, openSealed, keyContext, sendPrepared, sealedSalt, commitmentOf, tangleTransfer };

document.addEventListener("DOMContentLoaded", () => {
  const b = document.getElementById("wallet-signin");
  if (b) bindSignIn(b);
  const plan = document.getElementById("wallet-plan");
  if (plan) bindPlan(plan);
  const keys = document.querySelectorAll("button.open-key");
  if (keys.length) bindKeys(keys);
  const streams = document.querySelectorAll("form[data-wallet-stream]");
  if (streams.length) bindStreamForms(streams);
  const tangle = document.getElementById("tangle-derive");
  if (tangle) bindTangle(tangle.closest("section"));
  const forms = document.querySelectorAll("form[data-wallet-action]");
  if (forms.length && document.body.dataset.session === "wallet") bindWalletForms(forms);
});
