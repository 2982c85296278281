// The browser wallet side of Thingbid: Sign-In with Ethereum through the page's EIP-1193 provider
// (MetaMask, Rabby, WalletConnect...). Bundled by scripts/build-js (esbuild) into
// frontend/static/dist/wallet.js and served same-origin: the CSP allows no CDN and no inline script.
import { createWalletClient, custom, getAddress } from "viem";
import { createSiweMessage } from "viem/siwe";

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

window.thingbidWallet = { signIn, walletClient };

document.addEventListener("DOMContentLoaded", () => {
  const b = document.getElementById("wallet-signin");
  if (b) bindSignIn(b);
});
