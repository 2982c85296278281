// A development EIP-1193 wallet for benchmarks and browser tests (never served by the app): a real
// secp256k1 key signing with viem's local account, its node calls relayed to a local chain by
// Playwright (window.__walletRpc), as an extension's background page talks to its node outside the
// page's CSP. Configured by window.__testWallet. Bundled on demand by frontend.devwallet.
import { numberToHex, hexToBigInt } from "viem";
import { privateKeyToAccount } from "viem/accounts";

const cfg = window.__testWallet;
const account = privateKeyToAccount(cfg.privateKey);

async function rpc(method, params) {
  const answer = JSON.parse(await window.__walletRpc(JSON.stringify({ method, params })));
  if (answer.error) {
    const e = new Error(answer.error.message || "RPC error");
    e.code = answer.error.code;
    e.data = answer.error.data;
    throw e;
  }
  return answer.result;
}

function own(address) {
  if (!address || address.toLowerCase() !== account.address.toLowerCase()) {
    const e = new Error("the wallet holds no key for " + address);
    e.code = 4100;
    throw e;
  }
}

async function chainId() {
  return cfg.chainId ? numberToHex(cfg.chainId) : rpc("eth_chainId", []);
}

async function sendTransaction(tx) {
  own(tx.from || account.address);
  const [nonce, tip, price, id] = await Promise.all([
    rpc("eth_getTransactionCount", [account.address, "pending"]), rpc("eth_maxPriorityFeePerGas", []),
    rpc("eth_gasPrice", []), chainId()]);
  const gas = tx.gas || await rpc("eth_estimateGas", [{ from: account.address, to: tx.to, data: tx.data, value: tx.value }]);
  const signed = await account.signTransaction({
    type: "eip1559", chainId: Number(hexToBigInt(id)), nonce: Number(hexToBigInt(nonce)), to: tx.to,
    data: tx.data, value: tx.value ? hexToBigInt(tx.value) : 0n, gas: hexToBigInt(gas),
    maxPriorityFeePerGas: hexToBigInt(tip), maxFeePerGas: hexToBigInt(price) * 2n + hexToBigInt(tip),
  });
  return rpc("eth_sendRawTransaction", [signed]);
}

window.ethereum = {
  isThingbidTestWallet: true,
  async request({ method, params = [] }) {
    window.__walletNote(method);  // what the page asked of the wallet, kept by the test
    switch (method) {
      case "eth_requestAccounts":
      case "eth_accounts":
        return [account.address];
      case "eth_chainId":
        return chainId();
      case "personal_sign":
        own(params[1]);
        return account.signMessage({ message: { raw: params[0] } });
      case "eth_sendTransaction":
        return sendTransaction(params[0]);
      case "eth_sign":
      case "eth_signTransaction":
        throw Object.assign(new Error(method + " is not offered"), { code: 4200 });
      default:
        return rpc(method, params);
    }
  },
  on() {},
  removeListener() {},
};
