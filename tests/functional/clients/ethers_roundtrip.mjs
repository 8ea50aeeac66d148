// ethers.js v6 against a poqw node, unchanged: read the block number, send a transfer, deploy a
// contract, call it, send a transaction to it and read its event back, then hear a new head and
// an event through eth_subscribe on the WebSocket at the same address. Run (by
// tests/functional/test_functional_ethers.py, or by hand against any node) as
//   node ethers_roundtrip.mjs RPC_URL PRIVATE_KEY ARTIFACT.json
// where ARTIFACT.json holds {"abi": [...], "bytecode": "0x..."}: tests/vectors/api_counter.json's
// Counter (its `double`, `store`, `value`, `Stored` event and `TooBig` error are used). It prints
// one JSON object with what it saw; any failure exits non-zero.
import { readFileSync } from 'node:fs';
import { Contract, ContractFactory, JsonRpcProvider, Wallet, WebSocketProvider } from 'ethers';

const [url, key, artifactPath] = process.argv.slice(2);
if (!url || !key || !artifactPath) {
  process.stderr.write('usage: node ethers_roundtrip.mjs RPC_URL PRIVATE_KEY ARTIFACT.json\n');
  process.exit(2);
}
const artifact = JSON.parse(readFileSync(artifactPath, 'utf8'));
const receiver = '0x' + '22'.repeat(20);

// ethers shares identical requests made within `cacheTimeout` (250 ms by default), the pending
// nonce among them: on a chain that mines a block sooner than that (this test devnet, or anvil's
// automine) the next transaction would reuse the nonce just mined ("nonce has already been
// used"). Turning the sharing off is the usual setting for fast local chains.
const provider = new JsonRpcProvider(url, undefined, { cacheTimeout: -1 });
provider.pollingInterval = 250; // blocks come fast on the test devnet; the default waits 4 s
const wallet = new Wallet(key, provider);

const network = await provider.getNetwork();
const blockNumber = await provider.getBlockNumber();

const transfer = await wallet.sendTransaction({ to: receiver, value: 1234n });
const transferReceipt = await transfer.wait();
const receiverBalance = await provider.getBalance(receiver);

const factory = new ContractFactory(artifact.abi, artifact.bytecode, wallet);
const counter = await factory.deploy();
await counter.waitForDeployment();
const address = await counter.getAddress();

const doubled = await counter.double(21n);
let revertReason = null;
try {
  await counter.double(7n);
} catch (err) {
  revertReason = err.reason ?? null;
}
let customError = null;
try {
  await counter.store.staticCall(2000n);
} catch (err) {
  customError = err.revert ? { name: err.revert.name, args: err.revert.args.map(String) } : null;
}

const stored = await counter.store(77n);
const storedReceipt = await stored.wait();
const parsed = storedReceipt.logs.map((entry) => counter.interface.parseLog(entry));
const queried = await counter.queryFilter(counter.filters.Stored(), storedReceipt.blockNumber,
  storedReceipt.blockNumber);

const value = (await counter.value()).toString();

// The same node over WebSocket (same port): a logs subscription, then newHeads. Each
// eth_subscribe goes out as the listener is added, and the socket answers in order, so once a
// head has arrived the logs subscription is live and the next store() must be heard.
const ws = new WebSocketProvider(url.replace(/^http/, 'ws'));
let hear;
const heard = new Promise((resolve) => { hear = resolve; });
await new Contract(address, artifact.abi, ws).on('Stored', (who, stored) => hear(stored.toString()));
const wsHead = await new Promise((resolve) => { ws.once('block', resolve); });
await (await counter.store(88n)).wait();
const wsEvent = await Promise.race([heard, new Promise((resolve, reject) => {
  setTimeout(() => reject(new Error('no Stored event over WebSocket in 60 s')), 60000).unref();
})]);
await ws.destroy();

console.log(JSON.stringify({
  chainId: network.chainId.toString(),
  blockNumber,
  transfer: { hash: transfer.hash, status: transferReceipt.status, block: transferReceipt.blockNumber },
  receiverBalance: receiverBalance.toString(),
  contract: address,
  code: (await provider.getCode(address)).length > 2,
  doubled: doubled.toString(),
  revertReason,
  customError,
  value,
  storedStatus: storedReceipt.status,
  events: parsed.map((e) => ({ name: e.name, who: e.args.who, value: e.args.value.toString() })),
  queried: queried.map((e) => ({ name: e.eventName, value: e.args.value.toString() })),
  wsEvent,
  wsHead,
}));
